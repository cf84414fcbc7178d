#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include "model/block_options.hpp"
#include "model/embedding.hpp"
#include "model/norm.hpp"

namespace metaguard {

// LitGPT's `transformer` ModuleDict as a module of its own: token embedding `wte`, the
// blocks `h.0` ... `h.{n_layer-1}`, final norm `ln_f`. The blocks are reached through `h`
// only (never cached elsewhere) so clone() keeps them consistent.
class TransformerImpl : public torch::nn::Cloneable<TransformerImpl> {
 public:
  explicit TransformerImpl(const BlockOptions& options);

  void reset() override;

  BlockOptions options;
  Embedding wte{nullptr};
  torch::nn::ModuleList h{nullptr};
  Norm ln_f{nullptr};
};

TORCH_MODULE(Transformer);

}  // namespace metaguard
