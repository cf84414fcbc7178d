#pragma once
#include <cstdint>

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

 private:
  // GPTImpl::forward up to and including ln_f: (B, T) -> (B, T, n_embd).
  torch::Tensor hidden(const torch::Tensor& idx);

  GPT& model_;
  int64_t chunk_rows_;
  bool fused_ = false;
  torch::Tensor weight_;  // the head's (padded_vocab, n_embd)
};

}  // namespace metaguard
