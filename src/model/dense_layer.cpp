#include "model/dense_layer.hpp"

#include <torch/torch.h>

namespace metaguard {

DenseLayer::DenseLayer(torch::nn::Module& parent, const std::string& name, const LinearOptions& base,
                       const BlockOptions& block, bool target) {
  if (!block.lora()) {
    plain = parent.register_module(name, Linear(base));
    return;
  }
  const LoRAConfig& lora = *block.lora();
  adapted = parent.register_module(name, LoRALinear(LoRALinearOptions(base.in_features(), base.out_features())
                                                        .bias(base.bias())
                                                        .shared_weight(base.shared_weight())
                                                        .r(target ? lora.r : 0)
                                                        .alpha(lora.alpha)
                                                        .dropout(lora.dropout)
                                                        .tensor_options(base.tensor_options())));
}

torch::Tensor DenseLayer::forward(const torch::Tensor& x) {
  return adapted ? adapted->forward(x) : plain->forward(x);
}

LinearImpl& DenseLayer::base() { return adapted ? *adapted->linear : *plain; }

}  // namespace metaguard
