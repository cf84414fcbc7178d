#include "model/gpt_neox_mlp.hpp"

#include <torch/torch.h>

namespace metaguard {

GptNeoxMLPImpl::GptNeoxMLPImpl(const BlockOptions& opts) : options(opts) { reset(); }

void GptNeoxMLPImpl::reset() {
  const GPTConfig& config = options.config();
  const bool target = options.lora() && options.lora()->mlp;
  auto dense = [&](int64_t in, int64_t out) {
    return LinearOptions(in, out).bias(config.bias).tensor_options(options.tensor_options());
  };
  fc = DenseLayer(*this, "fc", dense(config.n_embd, config.intermediate_size), options, target);
  proj = DenseLayer(*this, "proj", dense(config.intermediate_size, config.n_embd), options, target);
}

torch::Tensor GptNeoxMLPImpl::forward(const torch::Tensor& x) {
  return proj.forward(torch::gelu(fc.forward(x), options.config().gelu_approximate));
}

}  // namespace metaguard
