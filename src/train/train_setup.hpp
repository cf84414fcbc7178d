#pragma once
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "checkpoint/checkpoint_reader.hpp"
#include "core/fault.hpp"
#include "guard/guard_policy.hpp"
#include "model/gpt_config.hpp"
#include "model/lora_config.hpp"
#include "train/byte_corpus.hpp"
#include "train/rank_placement.hpp"
#include "train/run_state.hpp"
#include "train/train_options.hpp"

namespace metaguard {

// Everything a run derives from its options, every input checked: what the launcher
// verifies before it starts a single rank, and what each rank starts from.
struct TrainSetup {
  TrainOptions options;
  int world_size = 1;
  GPTConfig config;
  std::optional<LoRAConfig> lora;
  std::set<Fault> faults;
  GuardPolicy policy = GuardPolicy::Fail;
  bool shard = false;             // --strategy shard
  bool checkpoint_activations = false;  // shard: recompute each block in backward
  bool meta_init = false;         // build on meta and materialize (several ranks, or a meta fault)
  std::string data_path;          // resolved
  std::shared_ptr<const ByteCorpus> corpus;
  int64_t micro_batch = 0;        // resolved
  int64_t warmup = 0;             // resolved
  int threads = 1;                // resolved
  RunPlacement placement;         // --device and --backend, resolved
  std::optional<RunState> resume;  // what --resume continues
  // --checkpoint, opened (metadata only): the base weights rank 0 loads at "load".
  std::shared_ptr<const CheckpointFile> checkpoint;

  bool has(Fault fault) const { return faults.count(fault) > 0; }
  std::string lora_spec() const { return lora ? lora->to_spec() : "none"; }
};

// Throws InputError naming the flag (or file) for any bad input: unknown model, bad LoRA
// spec, an unreadable --checkpoint, a fault that cannot apply, a missing, empty or too short corpus, a batch the
// ranks cannot split, a --resume directory of another run, an --out directory holding
// another run's checkpoint. Reads nothing but metadata from checkpoint files.
TrainSetup prepare_training(const TrainOptions& options, int world_size, int local_world_size = 1);

// The shipped corpus (fixtures/data/corpus.txt), looked up like model configs:
// $METAGUARD_DATA_DIR, <exe>/../share/metaguard/data, <exe>/../fixtures/data,
// $METAGUARD_SOURCE_DIR/fixtures/data. Empty when none exists.
std::string default_corpus_path();

}  // namespace metaguard
