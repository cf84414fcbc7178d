#pragma once
#include <cstdint>

#include <torch/types.h>

#include "train/byte_corpus.hpp"

namespace metaguard {

// Which sequences each optimizer step reads, and which rank reads which.
//
// Step s reads `global_batch` sequences; sequence j starts at a position drawn from
// (seed, s, j) alone, so the data a step sees depends neither on the number of ranks nor
// on what happened before (a resumed run reads what the uninterrupted one read). Rank r
// reads sequences [r * per_rank, (r + 1) * per_rank), in micro-batches of `micro_batch`.
class BatchPlan {
 public:
  // Throws InputError when the ranks cannot split the batch (global_batch % world_size,
  // or a micro-batch that does not divide the per-rank share). micro_batch 0: per_rank.
  BatchPlan(uint64_t seed, int64_t global_batch, int world_size, int64_t micro_batch, int64_t seq_len);

  int64_t global_batch() const { return global_batch_; }
  int64_t per_rank() const { return per_rank_; }
  int64_t micro_batch() const { return micro_batch_; }
  int64_t micro_steps() const { return per_rank_ / micro_batch_; }
  int64_t seq_len() const { return seq_len_; }

  // Start of sequence j of step `step` in the training part (its seq_len + 1 tokens fit).
  int64_t offset(int64_t step, int64_t j, int64_t train_size) const;
  // Micro-batch `micro` of `rank` at `step`: (micro_batch, seq_len + 1) int64 tokens.
  torch::Tensor micro_batch_tokens(const ByteCorpus& corpus, int64_t step, int rank, int64_t micro) const;

 private:
  uint64_t seed_;
  int64_t global_batch_, per_rank_, micro_batch_, seq_len_;
};

// Validation sequences: the held-out part cut into consecutive windows of seq_len + 1
// tokens (at most `max_sequences`); rank r evaluates windows r, r + world, ...
struct ValidationPlan {
  int64_t sequences = 0;
  int64_t seq_len = 0;

  ValidationPlan(const ByteCorpus& corpus, int64_t seq_len, int64_t max_sequences);
  // Window k: (1, seq_len + 1) int64 tokens.
  torch::Tensor window(const ByteCorpus& corpus, int64_t k) const;
};

}  // namespace metaguard
