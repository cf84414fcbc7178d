#pragma once
#include <cstdint>
#include <utility>

#include <torch/types.h>

#include "model/gpt.hpp"

namespace metaguard {

// The language-model loss with its gradient in the forward pass: the LM head and the cross
// entropy in one pass over row chunks (the "fused classifier" of llm.c, the fused
// linear-cross-entropy of Liger). For a 50k-token vocabulary the logits of one micro-batch
// are the largest tensors of the step (4 x 128 x 50304 floats = 103 MB). Autograd would
// allocate them, log-softmax them into a second tensor, and write and read their gradient in
// backward; here they are written once into a buffer kept between steps (at most 128 MB: larger
// batches go in chunks of rows), turned into the gradient of the logits in place, a few
// rows at a time while those are in cache, and multiplied by the weight. The math is the
// cross entropy's: losses agree with model->forward() + cross_entropy to float rounding (tested).
//
// Used only where it is exact: an LM head that is a plain weight (no bias, no unmerged
// LoRA adapter). Elsewhere it falls back to the model's own forward.
class FusedHeadLoss {
 public:
  // chunk_rows: rows of logits per chunk; 0: as many as fit in the 128 MB buffer.
  explicit FusedHeadLoss(GPT& model, int64_t chunk_rows = 0);

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
  torch::Tensor weight_;     // the head's (padded_vocab, n_embd)
  torch::Tensor workspace_;  // one chunk's logits, kept from step to step
};

}  // namespace metaguard
