#include "model/lora_linear.hpp"

#include <torch/torch.h>

namespace metaguard {

LoRALinearImpl::LoRALinearImpl(const LoRALinearOptions& opts) : options(opts) { reset(); }

void LoRALinearImpl::reset() {
  const auto& factory = options.tensor_options();
  linear = register_module("linear", Linear(LinearOptions(options.in_features(), options.out_features())
                                                .bias(options.bias())
                                                .shared_weight(options.shared_weight())
                                                .tensor_options(factory)));
  if (has_adapter()) {
    lora_A = register_parameter("lora_A", torch::empty({options.r(), options.in_features()}, factory));
    lora_B = register_parameter("lora_B", torch::empty({options.out_features(), options.r()}, factory));
    declare_init("lora_A", InitRecipe::kaiming_uniform(options.in_features()));
    declare_init("lora_B", InitRecipe::zeros());
  } else {
    lora_A = lora_B = torch::Tensor();
  }
}

torch::Tensor LoRALinearImpl::delta_weight() const { return lora_B.matmul(lora_A) * scaling(); }

torch::Tensor LoRALinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor pretrained = linear->forward(x);
  if (!has_adapter() || merged_) return pretrained;
  torch::Tensor input = options.dropout() > 0 ? torch::dropout(x, options.dropout(), is_training()) : x;
  return pretrained + input.matmul(lora_A.t()).matmul(lora_B.t()) * scaling();
}

void LoRALinearImpl::merge() {
  if (!has_adapter() || merged_) return;
  torch::NoGradGuard no_grad;
  linear->weight.add_(delta_weight().to(linear->weight.scalar_type()));
  merged_ = true;
}

void LoRALinearImpl::unmerge() {
  if (!has_adapter() || !merged_) return;
  torch::NoGradGuard no_grad;
  linear->weight.sub_(delta_weight().to(linear->weight.scalar_type()));
  merged_ = false;
}

}  // namespace metaguard
