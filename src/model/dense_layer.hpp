#pragma once
#include <string>

#include <torch/nn/module.h>

#include "model/block_options.hpp"
#include "model/linear.hpp"
#include "model/lora_linear.hpp"

namespace metaguard {

// One projection as its parent sees it. A plain GPT registers a Linear (keys `<name>.weight`);
// a LoRA GPT registers a LoRALinear for every projection, with an adapter only where the
// target is enabled (keys `<name>.linear.weight`, plus `<name>.lora_A`/`lora_B`), exactly as
// LitGPT's lora.GPT does. Not a module itself: it holds the child registered under `name`.
class DenseLayer {
 public:
  DenseLayer() = default;
  // Registers the child on `parent`. `target` says whether this projection's LoRA target is on.
  DenseLayer(torch::nn::Module& parent, const std::string& name, const LinearOptions& base,
             const BlockOptions& block, bool target);

  torch::Tensor forward(const torch::Tensor& x);
  // The layer that holds the pretrained weight and bias.
  LinearImpl& base();

  Linear plain{nullptr};         // plain GPT
  LoRALinear adapted{nullptr};   // LoRA GPT
};

}  // namespace metaguard
