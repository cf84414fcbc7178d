#pragma once
#include <optional>
#include <utility>

#include <torch/arg.h>
#include <torch/types.h>

#include "model/gpt_config.hpp"
#include "model/lora_config.hpp"

namespace metaguard {

// What every part of the model is built from: the architecture, the LoRA settings (none for
// a plain GPT) and the device/dtype of the tensors (meta allocates nothing).
struct BlockOptions {
  explicit BlockOptions(GPTConfig config) : config_(std::move(config)) {}
  TORCH_ARG(GPTConfig, config);
  TORCH_ARG(std::optional<LoRAConfig>, lora);
  TORCH_ARG(torch::TensorOptions, tensor_options) = {};
};

}  // namespace metaguard
