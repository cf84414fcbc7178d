#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include "model/block_options.hpp"
#include "model/dense_layer.hpp"

namespace metaguard {

// LitGPT's LLaMAMoE (Mixtral): a router `gate` (n_embd -> n_expert, no bias) picks the
// n_expert_per_token highest-scoring experts per token; their softmaxed scores weight the
// outputs of those experts, `experts.{e}` (LLaMAMLP, moe_intermediate_size wide). In a LoRA
// model the gate and every expert's projections carry adapters with the `mlp` target.
class LLaMAMoEImpl : public torch::nn::Cloneable<LLaMAMoEImpl> {
 public:
  explicit LLaMAMoEImpl(const BlockOptions& options);

  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, n_embd) -> (B, T, n_embd)

  BlockOptions options;
  DenseLayer gate;
  torch::nn::ModuleList experts{nullptr};
};

TORCH_MODULE(LLaMAMoE);

}  // namespace metaguard
