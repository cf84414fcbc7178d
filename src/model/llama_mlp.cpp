#include "model/llama_mlp.hpp"

#include <torch/torch.h>

namespace metaguard {

LLaMAMLPImpl::LLaMAMLPImpl(const BlockOptions& opts) : options(opts) { reset(); }

void LLaMAMLPImpl::reset() {
  const GPTConfig& config = options.config();
  const bool target = options.lora() && options.lora()->mlp;
  auto dense = [&](int64_t in, int64_t out) {
    return LinearOptions(in, out).bias(config.bias).tensor_options(options.tensor_options());
  };
  fc_1 = DenseLayer(*this, "fc_1", dense(config.n_embd, config.intermediate_size), options, target);
  fc_2 = DenseLayer(*this, "fc_2", dense(config.n_embd, config.intermediate_size), options, target);
  proj = DenseLayer(*this, "proj", dense(config.intermediate_size, config.n_embd), options, target);
}

torch::Tensor LLaMAMLPImpl::forward(const torch::Tensor& x) {
  return proj.forward(torch::silu(fc_1.forward(x)) * fc_2.forward(x));
}

}  // namespace metaguard
