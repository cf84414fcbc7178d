#pragma once
#include <cstdint>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "model/linear.hpp"
#include "walk/tensor_declarations.hpp"

namespace metaguard {

struct LoRALinearOptions {
  LoRALinearOptions(int64_t in_features, int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, out_features);
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(bool, shared_weight) = false;  // see LinearOptions::shared_weight
  TORCH_ARG(int64_t, r) = 0;               // 0: no adapter, a plain wrapped Linear (LitGPT's r=0)
  TORCH_ARG(double, alpha) = 1;
  TORCH_ARG(double, dropout) = 0;
  TORCH_ARG(torch::TensorOptions, tensor_options) = {};
};

// LitGPT's LoRALinear: the pretrained layer is the child `linear` (keys `<name>.linear.weight`,
// `<name>.linear.bias`), the adapter is `lora_A` (r, in) and `lora_B` (out, r) on this module:
//   y = linear(x) + dropout(x) A^T B^T * (alpha / r)
// A starts Kaiming-uniform (as nn.Linear's weight, fan_in = in), B at zero, so a fresh
// adapter changes nothing. merge() adds B A * scaling into linear.weight; unmerge() takes
// it out again.
class LoRALinearImpl : public torch::nn::Cloneable<LoRALinearImpl>, public TensorDeclarations {
 public:
  explicit LoRALinearImpl(const LoRALinearOptions& options);

  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  bool has_adapter() const { return options.r() > 0; }
  double scaling() const { return options.alpha() / static_cast<double>(options.r()); }
  // B A * scaling, shaped like linear.weight (out, in).
  torch::Tensor delta_weight() const;
  void merge();
  void unmerge();
  bool merged() const { return merged_; }

  LoRALinearOptions options;
  Linear linear{nullptr};
  torch::Tensor lora_A;  // (r, in_features)
  torch::Tensor lora_B;  // (out_features, r)

 private:
  bool merged_ = false;
};

TORCH_MODULE(LoRALinear);

}  // namespace metaguard
