#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace metaguard {

enum class NormClass { RMSNorm, LayerNorm };
enum class MlpClass { LLaMAMLP, GptNeoxMLP };

// The architecture of a LitGPT-style decoder, as read from fixtures/models/<name>.json.
// Field names and meanings are LitGPT's Config's; the defaults below are LitGPT's too and
// apply when a field is absent from the file.
struct GPTConfig {
  std::string name;                 // default: the file's stem
  int64_t n_layer = 0;              // required
  int64_t n_head = 0;               // required
  int64_t n_query_groups = 0;       // default n_head (plain multi-head attention)
  int64_t n_embd = 0;               // required
  int64_t head_size = 0;            // default n_embd / n_head; must equal it
  int64_t intermediate_size = 0;    // required for LLaMAMLP; default 4 * n_embd for GptNeoxMLP
  int64_t vocab_size = 0;           // required
  int64_t padded_vocab_size = 0;    // default vocab_size rounded up to a multiple of 512
  int64_t block_size = 0;           // required: longest sequence (rotary cache and mask rows)
  double rotary_percentage = 0.25;  // share of each head that gets rotary embeddings
  bool parallel_residual = true;    // GPT-NeoX: x + attn(norm_1(x)) + mlp(norm_2(x))
  bool bias = true;                 // biases on the attention and MLP projections
  NormClass norm_class = NormClass::LayerNorm;
  double norm_eps = 1e-5;
  MlpClass mlp_class = MlpClass::GptNeoxMLP;
  double rope_base = 10000;
  bool tie_embeddings = false;      // lm_head.weight is transformer.wte.weight (one storage)

  // Derived sizes (valid once validated).
  int64_t q_per_kv() const { return n_head / n_query_groups; }
  int64_t qkv_size() const { return (n_head + 2 * n_query_groups) * head_size; }
  int64_t rope_n_elem() const { return static_cast<int64_t>(rotary_percentage * static_cast<double>(head_size)); }
};

const char* to_string(NormClass norm);
const char* to_string(MlpClass mlp);

// Reads one config file. Unknown fields, wrong types and impossible shapes are InputErrors
// that name the file and the field.
GPTConfig load_gpt_config(const std::filesystem::path& file);

// Parses an already-read JSON object; `source` names it in error messages.
GPTConfig gpt_config_from_json(const nlohmann::json& object, const std::string& source,
                               const std::string& default_name);

// Checks the shape rules (divisibility, ranges); throws InputError naming `source` and the field.
void validate_gpt_config(const GPTConfig& config, const std::string& source);

// The config as JSON with every field spelled out (what load_gpt_config reads back).
nlohmann::json gpt_config_to_json(const GPTConfig& config);

// Where a model *name* is looked up, in order:
//   $METAGUARD_MODELS_DIR,
//   <dir of the running executable>/../share/metaguard/models   (installed layout),
//   <dir of the running executable>/../fixtures/models          (a build dir inside the source tree),
//   $METAGUARD_SOURCE_DIR/fixtures/models                       (tests set this).
// Only directories that exist are returned.
std::vector<std::filesystem::path> model_search_dirs();

// The names (file stems of *.json) found in the search directories, sorted, unique.
std::vector<std::string> known_model_names();

// A name ("micro", "llama-2-7b") is looked up in model_search_dirs(); anything with a '/' or
// ending in ".json" is a path. An unknown name is an InputError listing the known names.
GPTConfig resolve_model_config(const std::string& name_or_path);

}  // namespace metaguard
