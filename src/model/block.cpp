#include "model/block.hpp"

#include <torch/torch.h>

namespace metaguard {
namespace {

torch::Tensor normalized(Norm& norm, const torch::Tensor& x) { return norm ? norm->forward(x) : x; }

}  // namespace

BlockImpl::BlockImpl(const BlockOptions& opts, int64_t index) : options(opts), layer(index) { reset(); }

void BlockImpl::reset() {
  const GPTConfig& config = options.config();
  auto norm = [&](const char* name) {
    return register_module(name, Norm(norm_options(config, config.n_embd, options.tensor_options())));
  };
  norm_1 = post_attention_norm = norm_2 = post_mlp_norm = nullptr;
  llama_mlp = nullptr;
  neox_mlp = nullptr;
  moe = nullptr;
  // Registration order is LitGPT's: norm_1, attn, post_attention_norm, norm_2, mlp, post_mlp_norm.
  if (config.norm_1) norm_1 = norm("norm_1");
  attn = register_module("attn", CausalSelfAttention(options, layer));
  if (config.post_attention_norm) post_attention_norm = norm("post_attention_norm");
  if (config.norm_2 && !config.shared_attention_norm) norm_2 = norm("norm_2");
  if (config.mlp_class == MlpClass::LLaMAMoE) {
    moe = register_module("mlp", LLaMAMoE(options));
  } else if (config.gated_mlp()) {
    llama_mlp = register_module("mlp", LLaMAMLP(options));
  } else {
    neox_mlp = register_module("mlp", GptNeoxMLP(options));
  }
  if (config.post_mlp_norm) post_mlp_norm = norm("post_mlp_norm");
}

torch::Tensor BlockImpl::mlp_forward(const torch::Tensor& x) {
  if (moe) return moe->forward(x);
  return llama_mlp ? llama_mlp->forward(x) : neox_mlp->forward(x);
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                 const torch::Tensor& mask) {
  const GPTConfig& config = options.config();
  torch::Tensor x_normed = normalized(norm_1, x);
  torch::Tensor attention = normalized(post_attention_norm, attn->forward(x_normed, cos, sin, mask));
  torch::Tensor h = attention + x;
  if (config.parallel_residual) {
    if (!config.shared_attention_norm) x_normed = normalized(norm_2, x);
  } else {
    x_normed = normalized(norm_2, h);
  }
  return normalized(post_mlp_norm, mlp_forward(x_normed)) + h;
}

}  // namespace metaguard
