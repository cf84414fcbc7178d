#include "model/llama_moe.hpp"

#include <torch/torch.h>

#include "model/llama_mlp.hpp"

namespace metaguard {

LLaMAMoEImpl::LLaMAMoEImpl(const BlockOptions& opts) : options(opts) { reset(); }

void LLaMAMoEImpl::reset() {
  const GPTConfig& config = options.config();
  const bool target = options.lora() && options.lora()->mlp;
  gate = DenseLayer(*this, "gate",
                    LinearOptions(config.n_embd, config.n_expert).bias(false).tensor_options(options.tensor_options()),
                    options, target);
  experts = register_module("experts", torch::nn::ModuleList());
  for (int64_t e = 0; e < config.n_expert; ++e) experts->push_back(LLaMAMLP(options, config.moe_intermediate_size));
}

torch::Tensor LLaMAMoEImpl::forward(const torch::Tensor& x) {
  const GPTConfig& config = options.config();
  const auto sizes = x.sizes();
  torch::Tensor tokens = x.reshape({-1, sizes[2]});                                  // (N, n_embd)
  auto [scores, chosen] = torch::topk(gate.forward(tokens), config.n_expert_per_token);  // (N, k) each
  torch::Tensor weights = torch::softmax(scores, 1, torch::kFloat32).to(x.scalar_type());
  torch::Tensor y = torch::zeros_like(tokens);
  for (int64_t e = 0; e < config.n_expert; ++e) {
    // The tokens that chose expert e, and in which of their k slots.
    std::vector<torch::Tensor> hits = torch::where(chosen == e);
    const torch::Tensor& token = hits[0];
    // An expert no token chose still runs (on nothing): its adapters get zero gradients,
    // not none, so every rank reduces the same set.
    torch::Tensor output = experts[e]->as<LLaMAMLPImpl>()->forward(tokens.index_select(0, token));  // (n_e, n_embd)
    torch::Tensor weight = weights.index({token, hits[1]}).unsqueeze(-1);                     // (n_e, 1)
    y.index_add_(0, token, weight * output);
  }
  return y.view(sizes);
}

}  // namespace metaguard
