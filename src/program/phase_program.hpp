#pragma once
#include <vector>

#include "checks/check.hpp"
#include "core/phase.hpp"
#include "program/init_program.hpp"

namespace metaguard {

// How a phase is checked once its step has run.
enum class PhaseCheck {
  Recorded,  // the ledger records it; nothing is checked (materialize: its guard comes next)
  OneRank,   // every rank checks its own model
  AcrossRanks,  // ...and replicas are compared across ranks (content hashes)
};

// One row of the initialization program: a phase, the step every rank runs there, and what
// is checked there.
struct ProgramPhase {
  Phase phase;
  // Does a run with this plan pass the phase? (load: only with a checkpoint or a resume)
  bool (*passes)(const InitPlan& plan);
  // The step each rank runs; null where the phase is only a guard point.
  void (*step)(RankSession& session, const InitPlan& plan, Replicator& replicator);
  PhaseCheck check;  // AcrossRanks compares only when there are several ranks
  bool check_before_step;  // the check guards the step (before-transfer guards the move)
  // What must hold data on `rank` at the check.
  DataNeeds (*needs)(const InitPlan& plan, int rank);
  // The check also tells where the model is about to go (mixed-devices, before-transfer).
  bool names_target_device;
  // The training loop's own first guard point, with its optimizer: the trainer checks it
  // there, preflight (which has no loop) here.
  bool first_forward;
};

// Every phase from construction to the first forward, in order: the one place that says
// what happens at each and what is checked there (docs/ARCHITECTURE.md draws it).
const std::vector<ProgramPhase>& init_program();

// Runs the program: for each phase the plan passes, the step on every rank this runner
// drives, then the phase's check. Two runners: preflight (every simulated rank in one
// process, dry run) and the trainer (its own rank, real tensors, collectives).
class ProgramRunner {
 public:
  virtual ~ProgramRunner() = default;
  void run_program(const InitPlan& plan);

 protected:
  // The ranks whose steps run here.
  virtual std::vector<RankSession*> sessions() = 0;
  virtual Replicator& replicator() = 0;
  // The phase's guard point on every rank driven here. Throws to stop the run.
  virtual void check_phase(const ProgramPhase& phase, const InitPlan& plan) = 0;
  // Before a phase's step (the trainer names the phase it is in), and after its check.
  virtual void entering(const ProgramPhase&) {}
  virtual void finished(const ProgramPhase&) {}
};

}  // namespace metaguard
