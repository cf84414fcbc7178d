#pragma once
#include <cstdint>
#include <utility>

#include <torch/types.h>

#include "model/gpt.hpp"

namespace metaguard {

// The language-model loss without the full logits: the LM head and the cross entropy in
// one pass over row chunks, gradient included (the "fused classifier" of llm.c, the fused
// linear-cross-entropy of Liger). For a 50k-token vocabulary the logits of one micro-batch
// are the largest tensors of the step (4 x 128 x 50304 floats = 103 MB, written, read by
// log-softmax, its gradient written and read again); chunked, they never leave the cache
// and the step on pythia-14m is about a fifth faster. The math is the cross entropy's:
// losses agree with model->forward() + cross_entropy to float rounding (tested).
//
// Used only where it is exact: an LM head that is a plain weight (no bias, no unmerged
// LoRA adapter). Elsewhere it falls back to the model's own forward.
class FusedHeadLoss {
 public:
  explicit FusedHeadLoss(GPT& model, int64_t chunk_rows = 64);

  bool fused() const { return fused_; }

  // tokens (B, T + 1) int64: inputs [:, :T], targets [:, 1:]. Returns the mean loss over
  // the B * T tokens (a scalar with autograd history when grad mode is on) and fills
  // `per_sequence` (B, float64) with each sequence's mean loss.
  torch::Tensor loss(const torch::Tensor& tokens, torch::Tensor* per_sequence = nullptr);
  // The same from the final norm's output (B, T, E) and the targets (B, T): the head and
  // the cross entropy only (a sharded run gathers the head's weight around it). Fills
  // `per_token` (B * T) when given.
  torch::Tensor loss_from_hidden(const torch::Tensor& hidden, const torch::Tensor& targets,
                                 torch::Tensor* per_token = nullptr);

  // tokens (B, T + 1) -> inputs (B, T) and targets (B, T).
  static std::pair<torch::Tensor, torch::Tensor> split(const torch::Tensor& tokens);
  // Per-token losses (B * T) -> each sequence's mean (B, float64).
  static torch::Tensor per_sequence_mean(const torch::Tensor& per_token, const torch::Tensor& targets);

 private:

  GPT& model_;
  int64_t chunk_rows_;
  bool fused_ = false;
  torch::Tensor weight_;  // the head's (padded_vocab, n_embd)
};

}  // namespace metaguard
