#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace metaguard {

// `metaguard train`'s flags (CONTRACT.md), with their defaults.
struct TrainOptions {
  std::string model = "micro";                                     // name or config path
  std::string lora = "r=8,alpha=16,dropout=0,targets=query+value";  // or "none": train every weight
  std::string data;               // text file; empty: the shipped corpus (fixtures/data/corpus.txt)
  int nproc = 1;                  // ranks the launcher starts (ignored when started as a rank)
  int64_t steps = 20;             // optimizer steps
  int64_t global_batch = 8;       // sequences per optimizer step, summed over ranks
  int64_t micro_batch = 0;        // per rank per forward; 0: global_batch / ranks (no accumulation)
  int64_t seq_len = 64;           // tokens per sequence (<= the model's block_size)
  double lr = 3e-3;               // peak learning rate
  int64_t warmup = -1;            // warmup steps; -1: steps / 10
  double grad_clip = 1.0;         // max L2 norm of the averaged gradient; 0: off
  int64_t eval_every = 10;        // validation every N steps (and always before the first)
  int64_t eval_sequences = 16;    // held-out sequences per validation
  int64_t save_every = 0;         // checkpoint every N steps with --out; 0: at the end only
  bool save_full = false;         // checkpoints hold the whole model, not only the adapters
  std::string on_meta = "fail";   // off | warn | fail | repair
  std::vector<std::string> inject;  // fault names
  std::string strategy = "replicate";  // replicate | shard (frozen weights split across ranks)
  std::string activation_checkpointing = "auto";  // on | off | auto (on under shard)
  uint64_t seed = 1337;
  std::string checkpoint;         // base weights rank 0 loads at "load" (src/load)
  std::string out;                // run directory: reports and checkpoints
  std::string resume;             // run directory to continue
  std::vector<std::string> allow;  // --allow globs
  std::string format = "text";    // the run report on stdout
  bool verbose = false;           // text: every finding on its own
  std::string device = "auto";    // cpu | cuda | auto (cuda when LibTorch sees a GPU)
  std::string backend = "auto";   // gloo | nccl | auto (nccl on cuda when compiled in, else gloo)
  double timeout = 120;           // seconds any collective may take
  int threads = 0;                // intra-op threads per rank; 0: cores / local ranks
  int master_port = 0;            // launcher: 0 picks a free port (MASTER_PORT overrides)
};

}  // namespace metaguard
