#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace metaguard {

enum class NormClass { RMSNorm, LayerNorm };
enum class MlpClass { LLaMAMLP, GptNeoxMLP, GemmaMLP, LLaMAMoE };

// LitGPT's `rope_adjustments`: Llama 3.1-style frequency smoothing (factor, low/high
// frequency factors, original context), YaRN (factor, beta_fast, beta_slow, original
// context, optional mscale / mscale_all_dim) or linear scaling (factor only).
struct RopeAdjustments {
  enum class Kind { Linear, Llama3, YaRN };
  Kind kind = Kind::Linear;
  double factor = 1;
  double low_freq_factor = 0, high_freq_factor = 0;  // Llama3
  double beta_fast = 0, beta_slow = 0;               // YaRN
  double original_max_seq_len = 0;                   // Llama3, YaRN
  double mscale = 0, mscale_all_dim = 0;             // YaRN, 0 when absent
  bool operator==(const RopeAdjustments& other) const;
};

// The architecture of a LitGPT decoder. Field names and meanings are LitGPT 0.5.13's
// Config's (litgpt/config.py); a config file may use them all. Defaults are LitGPT's and
// apply when a field is absent, except that metaguard's own files (fixtures/models) must
// state the five sizes marked required.
struct GPTConfig {
  std::string name;                 // default: the file's stem
  int64_t n_layer = 0;              // required in metaguard's files (LitGPT: 16)
  int64_t n_head = 0;               // required (LitGPT: 32)
  int64_t n_query_groups = 0;       // default n_head (plain multi-head attention)
  int64_t n_embd = 0;               // required (LitGPT: 4096)
  int64_t head_size = 0;            // default n_embd / n_head; n_head * head_size may differ from n_embd
  int64_t intermediate_size = 0;    // required for LLaMAMLP/GemmaMLP; default 4 * n_embd for GptNeoxMLP
  int64_t vocab_size = 0;           // required (LitGPT: 50254)
  int64_t padded_vocab_size = 0;    // default vocab_size rounded up to a multiple of padding_multiple
  int64_t block_size = 0;           // required (LitGPT: 4096): longest sequence (rotary cache and mask rows)
  double rotary_percentage = 0.25;  // share of each head that gets rotary embeddings
  bool parallel_residual = true;    // GPT-NeoX: x + attn(norm_1(x)) + mlp(norm_2(x))
  bool bias = true;                 // biases on the attention and MLP projections
  bool attn_bias = false;           // a bias on the fused QKV projection even when `bias` is off (Qwen2)
  NormClass norm_class = NormClass::LayerNorm;
  double norm_eps = 1e-5;
  MlpClass mlp_class = MlpClass::GptNeoxMLP;
  double rope_base = 10000;
  bool tie_embeddings = false;      // metaguard's: lm_head.weight is transformer.wte.weight (one storage)

  // Normalization placement.
  bool norm_1 = true, norm_2 = true;          // false: that norm is an identity
  bool post_attention_norm = false;           // a norm on the attention output (Gemma 2/3)
  bool post_mlp_norm = false;                 // a norm on the MLP output (Gemma 2/3)
  bool shared_attention_norm = false;         // parallel residual: the MLP reads norm_1's output
  bool norm_qk = false;                       // norms on queries and keys (Qwen3, OLMo 2)
  bool norm_qk_olmo2 = false;                 // norm_qk_type "olmo2": over all heads before the split into heads
  // Derived from the name as LitGPT does: RMSNorm scales by (1 + weight) in Gemma models;
  // LayerNorm has no weight or bias in OLMo models.
  bool norm_unit_offset = false;
  bool norm_affine = true;

  // Attention.
  int64_t attention_scores_scalar = 0;         // scores scaled by 1/sqrt(this) instead of head_size; 0: unset
  int64_t sliding_window_size = 0;             // 0: no sliding window
  std::vector<int64_t> sliding_window_indices; // per layer 0/1 (filled to n_layer when a window is set)
  std::optional<double> attention_logit_softcapping;
  std::optional<double> final_logit_softcapping;

  // Rotary embeddings.
  int64_t rope_condense_ratio = 1;             // positions divided by this
  std::optional<RopeAdjustments> rope_adjustments;
  bool rope_interleave = false;                // rotate (even, odd) pairs instead of halves
  std::optional<double> rope_local_base_freq;  // a second cache for local layers
  std::vector<int64_t> rope_indices;           // per layer 0 (rope_base) / 1 (local), when local is set

  // MLP.
  std::string gelu_approximate = "none";       // "none" or "tanh"
  int64_t n_expert = 0, n_expert_per_token = 0, moe_intermediate_size = 0;  // LLaMAMoE

  // Before and after the blocks.
  bool scale_embeddings = false;  // embeddings times sqrt(n_embd)
  bool lm_head_bias = false;

  // Derived sizes (valid once validated).
  int64_t q_per_kv() const { return n_head / n_query_groups; }
  int64_t qkv_size() const { return (n_head + 2 * n_query_groups) * head_size; }
  int64_t rope_n_elem() const { return static_cast<int64_t>(rotary_percentage * static_cast<double>(head_size)); }
  bool qkv_bias() const { return bias || attn_bias; }
  bool sliding_window_at(int64_t layer) const {
    return sliding_window_size > 0 && sliding_window_indices.at(static_cast<size_t>(layer)) != 0;
  }
  bool local_rope_at(int64_t layer) const {
    return rope_local_base_freq.has_value() && rope_indices.at(static_cast<size_t>(layer)) != 0;
  }
  // Gated MLPs (fc_1, fc_2, proj) versus GPT-NeoX's (fc, proj).
  bool gated_mlp() const { return mlp_class == MlpClass::LLaMAMLP || mlp_class == MlpClass::GemmaMLP; }
};

const char* to_string(NormClass norm);
const char* to_string(MlpClass mlp);

// Whose conventions a config object follows. Metaguard's files must state the five sizes;
// LitGPT's (its config catalog, a checkpoint's model_config.yaml) take LitGPT's defaults.
enum class ConfigDialect { Metaguard, LitGPT };

// Reads one config file. Unknown fields, wrong types and impossible shapes are InputErrors
// that name the file and the field.
GPTConfig load_gpt_config(const std::string& file);

// Parses an already-read JSON object; `source` names it in error messages. LitGPT features
// metaguard cannot build are InputErrors naming the feature (never a silently wrong model).
GPTConfig gpt_config_from_json(const nlohmann::json& object, const std::string& source,
                               const std::string& default_name, ConfigDialect dialect = ConfigDialect::Metaguard);

// Checks the shape rules (divisibility, ranges); throws InputError naming `source` and the field.
void validate_gpt_config(const GPTConfig& config, const std::string& source);

// The config as JSON (what gpt_config_from_json reads back to an equal config). Fields
// that keep their defaults beyond the original eighteen are left out.
nlohmann::json gpt_config_to_json(const GPTConfig& config);

// The config as LitGPT's Config spells it (every field LitGPT's Config.from_file accepts,
// nothing else: metaguard's tie_embeddings has no LitGPT field and is left out), what a
// checkpoint directory's model_config.yaml holds.
nlohmann::json litgpt_config_json(const GPTConfig& config);

}  // namespace metaguard
