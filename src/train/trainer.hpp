#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <torch/optim/adamw.h>

#include "core/report.hpp"
#include "program/phase_program.hpp"
#include "program/rank_session.hpp"
#include "train/batch_plan.hpp"
#include "train/c10d_replicator.hpp"
#include "train/collective_guard.hpp"
#include "train/communicator.hpp"
#include "train/fused_head_loss.hpp"
#include "train/gradient_buckets.hpp"
#include "train/lr_schedule.hpp"
#include "train/progress_printer.hpp"
#include "train/run_checkpoint.hpp"
#include "train/sharded_loss.hpp"
#include "train/test_knobs.hpp"
#include "train/train_setup.hpp"

namespace metaguard {

struct InitPlan;

struct TrainResult {
  int exit_code = 0;                 // CONTRACT.md: 0 done, 1 stopped or errors remain, 2 bad input, 3 bug
  Report rank_report;                // this rank's (what rank<k>.json holds)
  std::optional<Report> run_report;  // rank 0: the run's (report.json, with every rank's findings)
};

// One rank's whole run, in the phases of docs/TRAINING.md:
//
//   build (meta for several ranks)  ->  init  ->  load  ->  broadcast  ->  materialize
//   ->  before-transfer  ->  before-validation (step 0)  ->  before-forward
//   ->  steps: forward, loss, backward per micro-batch; average gradients; clip; step
//      with validation every --eval-every steps and checkpoints every --save-every.
//
// Every guard point is a CollectiveGuard: all ranks check, agree, and stop together. A
// lost rank ends the run through the communicator's CollectiveFailure. Whatever happens,
// run() returns a report (rank<k>.json and, on rank 0, report.json in --out).
class Trainer : private ProgramRunner {
 public:
  // `device`: where this rank builds, materializes, repairs and trains (RunPlacement).
  Trainer(const TrainSetup& setup, Communicator& communicator, torch::Device device);
  ~Trainer();

  TrainResult run();

 private:
  void build();
  // The initialization program for this rank (the ProgramRunner side: one session, the c10d
  // broadcast, collective checks, and log lines about what load and broadcast did).
  void initialize();
  InitPlan init_plan();
  std::vector<RankSession*> sessions() override { return {session_.get()}; }
  Replicator& replicator() override { return *replicator_; }
  void check_phase(const ProgramPhase& phase, const InitPlan& plan) override;
  void entering(const ProgramPhase& phase) override { phase_ = std::string(to_string(phase.phase)); }
  void finished(const ProgramPhase& phase) override;
  // The frozen weights' strategy-independent hash (train/frozen_weights_hash), once they are
  // initialized: the run report's training.frozen_weights_hash.
  void fingerprint_frozen_weights();
  void prepare_optimizer();
  void train();
  void train_step(int64_t step);
  double validate(int64_t step);
  void save(int64_t step);
  void write_checkpoint(int64_t step, bool full);  // rank 0
  // After the last step with --out: DIR/final as LitGPT's fine-tuning leaves it (rank 0
  // writes it).
  void export_final();
  void write_final();
  // Runs `write` on rank 0 with the whole model in memory there: under --strategy shard every
  // rank takes part in gathering it first, and rank 0 keeps its slices again afterwards.
  void with_whole_model(const std::function<void()>& write);
  // The step's loss: replicated (FusedHeadLoss) or sharded (ShardedLoss).
  torch::Tensor loss(const torch::Tensor& tokens, torch::Tensor* per_sequence = nullptr);
  void refresh_optimizer_entries();
  // A guard point (CollectiveGuard::run) that also tells what it warned about or repaired.
  void guard_point(const std::string& phase, DataNeeds needs, const GuardExtras& extras = {});
  // The guard points of the training loop (before the first forward, each validation, each
  // save): every tensor needs its data, and the optimizer's references are checked too.
  void loop_guard_point(const std::string& phase);

  // run()'s verbs: the phases (returns the exit code, fills `error` when the run stopped), a
  // stop this rank caused (announced to the others, who then stop at once), the stop's log
  // lines, this rank's report on disk, and, on ranks > 0, its result handed to rank 0.
  int run_phases(std::string& error);
  void announce_start();
  int stop_alone(const std::string& where, const std::string& what, int exit_code, std::string& error);
  void log_stop(const std::string& error) const;
  void write_rank_report(const Report& report) const;
  void post_result(const Report& own, int exit_code, const std::string& error);

  TrainingInfo training_info() const;
  Report rank_report(int exit_code, const std::string& error) const;
  Report run_report(const Report& own, int& exit_code);
  void log(const std::string& text) const;

  const TrainSetup& setup_;
  Communicator& communicator_;
  const torch::Device device_;
  const int rank_;
  const int world_;
  BatchPlan plan_;
  ValidationPlan validation_;
  LrSchedule schedule_;
  TestKnobs knobs_;
  ProgressPrinter printer_;

  std::unique_ptr<RankSession> session_;
  std::unique_ptr<C10dReplicator> replicator_;
  std::unique_ptr<CollectiveGuard> guard_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  NamedTensors trainable_;
  std::vector<OptimizerEntry> optimizer_entries_;
  std::unique_ptr<GradientBuckets> buckets_;
  std::unique_ptr<FusedHeadLoss> head_loss_;
  std::unique_ptr<ShardedLoss> sharded_loss_;

  std::string phase_ = "setup";
  int64_t start_step_ = 0;
  int64_t completed_ = 0;  // optimizer steps done (absolute, resumed ones included)
  std::vector<double> losses_;
  std::vector<ValidationLoss> val_losses_;
  double train_seconds_ = 0;       // optimizer steps only
  double validation_seconds_ = 0;
  int64_t trained_tokens_ = 0;
  std::optional<StopReason> stopped_;
  std::set<int> lost_ranks_;  // named by a CollectiveFailure: never wait for them
  std::string last_checkpoint_;
  std::optional<uint64_t> frozen_hash_;
};

}  // namespace metaguard
