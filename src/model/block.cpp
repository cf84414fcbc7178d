#include "model/block.hpp"

#include <torch/torch.h>

namespace metaguard {

BlockImpl::BlockImpl(const BlockOptions& opts) : options(opts) { reset(); }

void BlockImpl::reset() {
  const GPTConfig& config = options.config();
  auto norm = [&] {
    return Norm(NormOptions(config.n_embd, config.norm_class).eps(config.norm_eps).tensor_options(options.tensor_options()));
  };
  // Registration order is LitGPT's: norm_1, attn, norm_2, mlp.
  norm_1 = register_module("norm_1", norm());
  attn = register_module("attn", CausalSelfAttention(options));
  norm_2 = register_module("norm_2", norm());
  llama_mlp = nullptr;
  neox_mlp = nullptr;
  if (config.mlp_class == MlpClass::LLaMAMLP) {
    llama_mlp = register_module("mlp", LLaMAMLP(options));
  } else {
    neox_mlp = register_module("mlp", GptNeoxMLP(options));
  }
}

torch::Tensor BlockImpl::mlp_forward(const torch::Tensor& x) {
  return llama_mlp ? llama_mlp->forward(x) : neox_mlp->forward(x);
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                 const torch::Tensor& mask) {
  torch::Tensor attention = attn->forward(norm_1->forward(x), cos, sin, mask);
  if (options.config().parallel_residual) return x + attention + mlp_forward(norm_2->forward(x));
  torch::Tensor h = x + attention;
  return h + mlp_forward(norm_2->forward(h));
}

}  // namespace metaguard
