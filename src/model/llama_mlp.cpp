#include "model/llama_mlp.hpp"

#include <torch/torch.h>

namespace metaguard {

LLaMAMLPImpl::LLaMAMLPImpl(const BlockOptions& opts, int64_t intermediate)
    : options(opts), width(intermediate > 0 ? intermediate : opts.config().intermediate_size) {
  reset();
}

void LLaMAMLPImpl::reset() {
  const GPTConfig& config = options.config();
  const bool target = options.lora() && options.lora()->mlp;
  auto dense = [&](int64_t in, int64_t out) {
    return LinearOptions(in, out).bias(config.bias).tensor_options(options.tensor_options());
  };
  fc_1 = DenseLayer(*this, "fc_1", dense(config.n_embd, width), options, target);
  fc_2 = DenseLayer(*this, "fc_2", dense(config.n_embd, width), options, target);
  proj = DenseLayer(*this, "proj", dense(width, config.n_embd), options, target);
}

torch::Tensor LLaMAMLPImpl::forward(const torch::Tensor& x) {
  const GPTConfig& config = options.config();
  torch::Tensor gate = config.mlp_class == MlpClass::GemmaMLP ? torch::gelu(fc_1.forward(x), config.gelu_approximate)
                                                              : torch::silu(fc_1.forward(x));
  return proj.forward(gate * fc_2.forward(x));
}

}  // namespace metaguard
