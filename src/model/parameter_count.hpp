#pragma once
#include <cstdint>
#include <optional>

#include "model/gpt_config.hpp"
#include "model/lora_config.hpp"

namespace metaguard {

// Parameter counts computed from the configuration alone (no model built). Tied weights
// count once. Sizes in bytes are these times the element size.
struct ParameterCount {
  int64_t base = 0;  // pretrained weights: embedding, blocks, final norm, LM head
  int64_t lora = 0;  // adapter parameters (lora_A, lora_B)
  int64_t total() const { return base + lora; }
};

ParameterCount count_parameters(const GPTConfig& config, const std::optional<LoRAConfig>& lora);

}  // namespace metaguard
