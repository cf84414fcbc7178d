#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace metaguard {

// LoRA hyper-parameters and which projections get adapters (LitGPT's lora_* config fields).
struct LoRAConfig {
  int64_t r = 8;          // rank of the update B @ A
  double alpha = 16;      // the update is scaled by alpha / r
  double dropout = 0;     // dropout on the LoRA path's input only
  bool query = true;      // rows of the fused QKV projection that produce queries
  bool key = false;       // ... keys
  bool value = true;      // ... values
  bool projection = false;  // attention output projection (attn.proj)
  bool mlp = false;         // every MLP projection
  bool head = false;        // lm_head

  double scaling() const { return alpha / static_cast<double>(r); }
  bool any_qkv() const { return query || key || value; }
  bool any_target() const { return any_qkv() || projection || mlp || head; }

  // Canonical spec, e.g. "r=8,alpha=16,dropout=0,targets=query+value"; parses back equal.
  std::string to_spec() const;
};

// Parses CONTRACT.md's `--lora SPEC`: comma-separated key=value with keys r, alpha, dropout
// and targets (a '+'-joined subset of query, key, value, projection, mlp, head), or LitGPT's
// names: lora_r, lora_alpha, lora_dropout, and lora_query ... lora_head = true|false, which
// switch targets on or off from the default set (not together with `targets`). Absent keys
// keep their defaults (r=8,alpha=16,dropout=0,targets=query+value). "none" means no LoRA
// (a plain GPT) and returns nullopt. A bad key or value is an InputError naming it.
std::optional<LoRAConfig> parse_lora_spec(const std::string& spec);

// Throws InputError when the config is out of range (r < 1, alpha <= 0, dropout outside [0, 1),
// no target).
void validate_lora_config(const LoRAConfig& lora);

}  // namespace metaguard
