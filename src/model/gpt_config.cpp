#include "model/gpt_config.hpp"

#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/input_files.hpp"

namespace metaguard {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Bounds that keep a config file from asking for absurd module trees: a layer count is
// paid for in modules even on meta, and dimensions beyond these exist in no public model.
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxDimension = int64_t{1} << 24;
constexpr int64_t kMaxExperts = 1024;
constexpr int64_t kMaxExpertModules = int64_t{1} << 16;  // n_layer * n_expert: modules even on meta
constexpr std::uintmax_t kMaxConfigBytes = 1 << 20;

[[noreturn]] void fail(const std::string& source, const std::string& field, const std::string& problem) {
  throw InputError(fmt::format("{}: field '{}': {}", source, field, problem));
}

int64_t read_int(const json& value, const std::string& source, const std::string& field) {
  if (!value.is_number_integer()) fail(source, field, fmt::format("must be an integer, got {}", value.dump()));
  if (value.is_number_unsigned()) {
    auto u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(kMaxDimension)) fail(source, field, fmt::format("{} is too large", u));
    return static_cast<int64_t>(u);
  }
  // Bounded both ways, so no later sum or product of sizes can overflow.
  const int64_t v = value.get<int64_t>();
  if (v > kMaxDimension || v < -kMaxDimension) fail(source, field, fmt::format("{} is too large", v));
  return v;
}

double read_number(const json& value, const std::string& source, const std::string& field) {
  if (!value.is_number()) fail(source, field, fmt::format("must be a number, got {}", value.dump()));
  double number = value.get<double>();
  if (!std::isfinite(number)) fail(source, field, "must be finite");
  return number;
}

bool read_bool(const json& value, const std::string& source, const std::string& field) {
  if (!value.is_boolean()) fail(source, field, fmt::format("must be true or false, got {}", value.dump()));
  return value.get<bool>();
}

std::string read_string(const json& value, const std::string& source, const std::string& field) {
  if (!value.is_string()) fail(source, field, fmt::format("must be a string, got {}", value.dump()));
  return value.get<std::string>();
}

std::vector<int64_t> read_indicators(const json& value, const std::string& source, const std::string& field) {
  if (!value.is_array()) fail(source, field, fmt::format("must be a list of 0 and 1, got {}", value.dump()));
  std::vector<int64_t> list;
  for (const auto& item : value) {
    int64_t flag = read_int(item, source, field);
    if (flag != 0 && flag != 1) fail(source, field, fmt::format("must only contain 0 and 1, got {}", flag));
    list.push_back(flag);
  }
  return list;
}

RopeAdjustments read_rope_adjustments(const json& value, const std::string& source) {
  const std::string field = "rope_adjustments";
  if (!value.is_object()) fail(source, field, fmt::format("must be an object, got {}", value.dump()));
  auto number = [&](const char* key) { return read_number(value.at(key), source, field + "." + key); };
  auto require = [&](std::initializer_list<const char*> keys, const char* style) {
    for (const char* key : keys) {
      if (!value.contains(key)) fail(source, field, fmt::format("{} adjustments need '{}'", style, key));
    }
  };
  for (const auto& item : value.items()) {
    static const std::set<std::string> known = {"factor",    "low_freq_factor", "high_freq_factor",
                                                "beta_fast", "beta_slow",       "original_max_seq_len",
                                                "mscale",    "mscale_all_dim",  "truncate"};
    if (!known.count(item.key())) fail(source, field, fmt::format("unknown key '{}'", item.key()));
  }
  RopeAdjustments rope;
  const bool llama3 = value.contains("low_freq_factor") || value.contains("high_freq_factor");
  const bool yarn = value.contains("beta_fast") || value.contains("beta_slow");
  if (llama3 && yarn) fail(source, field, "Llama 3 and YaRN parameters exclude each other");
  if (value.contains("truncate") && !(value["truncate"].is_boolean() && value["truncate"].get<bool>())) {
    fail(source, field, "'truncate': only LitGPT's default (true) is supported");
  }
  if (!yarn && (value.contains("mscale") || value.contains("mscale_all_dim"))) {
    fail(source, field, "'mscale' and 'mscale_all_dim' belong to YaRN adjustments (beta_fast, beta_slow)");
  }
  if (llama3) {
    require({"factor", "low_freq_factor", "high_freq_factor", "original_max_seq_len"}, "Llama 3");
    rope.kind = RopeAdjustments::Kind::Llama3;
    rope.low_freq_factor = number("low_freq_factor");
    rope.high_freq_factor = number("high_freq_factor");
    if (rope.low_freq_factor == rope.high_freq_factor) fail(source, field, "low_freq_factor equals high_freq_factor");
  } else if (yarn) {
    require({"factor", "beta_fast", "beta_slow", "original_max_seq_len"}, "YaRN");
    rope.kind = RopeAdjustments::Kind::YaRN;
    rope.beta_fast = number("beta_fast");
    rope.beta_slow = number("beta_slow");
    if (value.contains("mscale")) rope.mscale = number("mscale");
    if (value.contains("mscale_all_dim")) rope.mscale_all_dim = number("mscale_all_dim");
  } else {
    require({"factor"}, "linear");
  }
  rope.factor = number("factor");
  if (!(rope.factor > 0)) fail(source, field, "'factor' must be positive");
  if (value.contains("original_max_seq_len")) rope.original_max_seq_len = number("original_max_seq_len");
  // Values that would turn the frequencies into NaN rather than fail.
  for (const char* key : {"original_max_seq_len", "beta_fast", "beta_slow"}) {
    if (value.contains(key) && !(number(key) > 0)) fail(source, field, fmt::format("'{}' must be positive", key));
  }
  return rope;
}

json rope_adjustments_to_json(const RopeAdjustments& rope) {
  json out = {{"factor", rope.factor}};
  if (rope.kind == RopeAdjustments::Kind::Llama3) {
    out["low_freq_factor"] = rope.low_freq_factor;
    out["high_freq_factor"] = rope.high_freq_factor;
    out["original_max_seq_len"] = rope.original_max_seq_len;
  } else if (rope.kind == RopeAdjustments::Kind::YaRN) {
    out["beta_fast"] = rope.beta_fast;
    out["beta_slow"] = rope.beta_slow;
    out["original_max_seq_len"] = rope.original_max_seq_len;
    if (rope.mscale != 0) out["mscale"] = rope.mscale;
    if (rope.mscale_all_dim != 0) out["mscale_all_dim"] = rope.mscale_all_dim;
  }
  return out;
}

NormClass read_norm_class(const json& value, const std::string& source, const std::string& field) {
  std::string text = read_string(value, source, field);
  if (text == "RMSNorm") return NormClass::RMSNorm;
  if (text == "LayerNorm") return NormClass::LayerNorm;
  fail(source, field, fmt::format("unknown norm class '{}' (known: RMSNorm, LayerNorm)", text));
}

MlpClass read_mlp_class(const json& value, const std::string& source, const std::string& field) {
  std::string text = read_string(value, source, field);
  for (MlpClass mlp : {MlpClass::LLaMAMLP, MlpClass::GptNeoxMLP, MlpClass::GemmaMLP, MlpClass::LLaMAMoE}) {
    if (text == to_string(mlp)) return mlp;
  }
  fail(source, field, fmt::format("unknown MLP class '{}' (known: LLaMAMLP, GptNeoxMLP, GemmaMLP, LLaMAMoE)", text));
}

// What a field reader gets: the config being filled, the value, and where it came from.
using FieldReader = std::function<void(GPTConfig&, const json&, const std::string& source, const std::string& field)>;

template <typename Member>
FieldReader integer(Member GPTConfig::*member) {
  return [member](GPTConfig& c, const json& v, const std::string& s, const std::string& f) { c.*member = read_int(v, s, f); };
}
FieldReader number(double GPTConfig::*member) {
  return [member](GPTConfig& c, const json& v, const std::string& s, const std::string& f) { c.*member = read_number(v, s, f); };
}
FieldReader optional_number(std::optional<double> GPTConfig::*member) {
  return [member](GPTConfig& c, const json& v, const std::string& s, const std::string& f) { c.*member = read_number(v, s, f); };
}
FieldReader boolean(bool GPTConfig::*member) {
  return [member](GPTConfig& c, const json& v, const std::string& s, const std::string& f) { c.*member = read_bool(v, s, f); };
}
FieldReader indicators(std::vector<int64_t> GPTConfig::*member) {
  return [member](GPTConfig& c, const json& v, const std::string& s, const std::string& f) {
    c.*member = read_indicators(v, s, f);
  };
}
// A LitGPT field metaguard reads but has no use for (the Hugging Face origin, the vocab
// padding rule, which it applies while reading).
FieldReader accepted() { return [](GPTConfig&, const json&, const std::string&, const std::string&) {}; }

// A LitGPT feature metaguard does not build: any value but LitGPT's "off" is refused by name.
FieldReader unsupported(const char* feature, std::function<bool(const json&)> is_off) {
  return [feature, is_off](GPTConfig&, const json& v, const std::string& s, const std::string& f) {
    if (!is_off(v)) fail(s, f, fmt::format("{} is not supported by metaguard's model", feature));
  };
}
bool is_null_or_zero(const json& v) { return v.is_null() || (v.is_number() && v.get<double>() == 0); }

// One entry per accepted field; anything else in a file is an error naming it. Names are
// LitGPT's; `norm_class` and `mlp_class` are metaguard's older spellings of `*_name`.
const std::map<std::string, FieldReader>& field_readers() {
  static const std::map<std::string, FieldReader> readers = {
      {"name", [](GPTConfig& c, const json& v, const std::string& s, const std::string& f) { c.name = read_string(v, s, f); }},
      {"hf_config", accepted()},
      {"padding_multiple", accepted()},  // applied in gpt_config_from_json
      {"n_layer", integer(&GPTConfig::n_layer)},
      {"n_head", integer(&GPTConfig::n_head)},
      {"n_query_groups", integer(&GPTConfig::n_query_groups)},
      {"n_embd", integer(&GPTConfig::n_embd)},
      {"head_size", integer(&GPTConfig::head_size)},
      {"intermediate_size", integer(&GPTConfig::intermediate_size)},
      {"vocab_size", integer(&GPTConfig::vocab_size)},
      {"padded_vocab_size", integer(&GPTConfig::padded_vocab_size)},
      {"block_size", integer(&GPTConfig::block_size)},
      {"rotary_percentage", number(&GPTConfig::rotary_percentage)},
      {"parallel_residual", boolean(&GPTConfig::parallel_residual)},
      {"bias", boolean(&GPTConfig::bias)},
      {"attn_bias", boolean(&GPTConfig::attn_bias)},
      {"norm_class", [](GPTConfig& c, const json& v, const std::string& s, const std::string& f) { c.norm_class = read_norm_class(v, s, f); }},
      {"norm_class_name", [](GPTConfig& c, const json& v, const std::string& s, const std::string& f) { c.norm_class = read_norm_class(v, s, f); }},
      {"norm_eps", number(&GPTConfig::norm_eps)},
      {"mlp_class", [](GPTConfig& c, const json& v, const std::string& s, const std::string& f) { c.mlp_class = read_mlp_class(v, s, f); }},
      {"mlp_class_name", [](GPTConfig& c, const json& v, const std::string& s, const std::string& f) { c.mlp_class = read_mlp_class(v, s, f); }},
      {"rope_base", number(&GPTConfig::rope_base)},
      {"tie_embeddings", boolean(&GPTConfig::tie_embeddings)},
      {"norm_1", boolean(&GPTConfig::norm_1)},
      {"norm_2", boolean(&GPTConfig::norm_2)},
      {"post_attention_norm", boolean(&GPTConfig::post_attention_norm)},
      {"post_mlp_norm", boolean(&GPTConfig::post_mlp_norm)},
      {"shared_attention_norm", boolean(&GPTConfig::shared_attention_norm)},
      {"norm_qk", boolean(&GPTConfig::norm_qk)},
      {"norm_qk_type",
       [](GPTConfig& c, const json& v, const std::string& s, const std::string& f) {
         std::string text = read_string(v, s, f);
         if (text != "default" && text != "olmo2") fail(s, f, fmt::format("unknown type '{}' (known: default, olmo2)", text));
         c.norm_qk_olmo2 = text == "olmo2";
       }},
      {"attention_scores_scalar", integer(&GPTConfig::attention_scores_scalar)},
      {"sliding_window_size", integer(&GPTConfig::sliding_window_size)},
      {"sliding_window_indices", indicators(&GPTConfig::sliding_window_indices)},
      {"attention_logit_softcapping", optional_number(&GPTConfig::attention_logit_softcapping)},
      {"final_logit_softcapping", optional_number(&GPTConfig::final_logit_softcapping)},
      {"rope_condense_ratio", integer(&GPTConfig::rope_condense_ratio)},
      {"rope_adjustments",
       [](GPTConfig& c, const json& v, const std::string& s, const std::string&) { c.rope_adjustments = read_rope_adjustments(v, s); }},
      {"rope_interleave", boolean(&GPTConfig::rope_interleave)},
      {"rope_local_base_freq", optional_number(&GPTConfig::rope_local_base_freq)},
      {"rope_indices", indicators(&GPTConfig::rope_indices)},
      {"gelu_approximate",
       [](GPTConfig& c, const json& v, const std::string& s, const std::string& f) {
         std::string text = read_string(v, s, f);
         if (text != "none" && text != "tanh") fail(s, f, fmt::format("unknown approximation '{}' (known: none, tanh)", text));
         c.gelu_approximate = text;
       }},
      {"n_expert", integer(&GPTConfig::n_expert)},
      {"n_expert_per_token", integer(&GPTConfig::n_expert_per_token)},
      {"moe_intermediate_size", integer(&GPTConfig::moe_intermediate_size)},
      {"scale_embeddings", boolean(&GPTConfig::scale_embeddings)},
      {"lm_head_bias", boolean(&GPTConfig::lm_head_bias)},
      // DeepSeek V3's parts: refused by name unless off.
      {"latent_attention", unsupported("multi-head latent attention (latent_attention)", [](const json& v) { return v.is_null(); })},
      {"n_shared_expert", unsupported("shared experts (n_shared_expert)", is_null_or_zero)},
      {"n_expert_groups", unsupported("grouped expert routing (n_expert_groups)", is_null_or_zero)},
      {"n_topk_groups", unsupported("grouped expert routing (n_topk_groups)", is_null_or_zero)},
      {"n_topk_scores_per_group", unsupported("grouped expert routing (n_topk_scores_per_group)", is_null_or_zero)},
      {"first_k_dense_replace", unsupported("dense first layers in a mixture of experts (first_k_dense_replace)", is_null_or_zero)},
      {"routed_scaling_factor",
       unsupported("scaled expert routing (routed_scaling_factor other than 1)",
                   [](const json& v) { return v.is_null() || (v.is_number() && v.get<double>() == 1.0); })},
      {"norm_topk_prob", unsupported("normalized top-k expert probabilities (norm_topk_prob)",
                                     [](const json& v) { return v.is_null() || v == false; })},
  };
  return readers;
}

std::string known_fields() {
  std::string list;
  for (const auto& [name, reader] : field_readers()) list += (list.empty() ? "" : ", ") + name;
  return list;
}

bool is_lora_field(const std::string& key) { return key.rfind("lora_", 0) == 0; }

void check_range(const std::string& source, const char* field, int64_t value, int64_t max) {
  if (value < 1) fail(source, field, fmt::format("must be at least 1, got {}", value));
  if (value > max) fail(source, field, fmt::format("{} is larger than the supported {}", value, max));
}

// LitGPT's per-layer indicator lists: absent means every layer; a longer list is cut to
// n_layer; a shorter one is an error.
void fill_indicators(std::vector<int64_t>& list, int64_t n_layer, const std::string& source, const char* field) {
  if (list.empty()) list.assign(static_cast<size_t>(n_layer), 1);
  if (static_cast<int64_t>(list.size()) < n_layer) {
    fail(source, field, fmt::format("has {} entries for {} layers", list.size(), n_layer));
  }
  list.resize(static_cast<size_t>(n_layer));
}

}  // namespace

bool RopeAdjustments::operator==(const RopeAdjustments& o) const {
  return kind == o.kind && factor == o.factor && low_freq_factor == o.low_freq_factor &&
         high_freq_factor == o.high_freq_factor && beta_fast == o.beta_fast && beta_slow == o.beta_slow &&
         original_max_seq_len == o.original_max_seq_len && mscale == o.mscale && mscale_all_dim == o.mscale_all_dim;
}

const char* to_string(NormClass norm) { return norm == NormClass::RMSNorm ? "RMSNorm" : "LayerNorm"; }
const char* to_string(MlpClass mlp) {
  switch (mlp) {
    case MlpClass::LLaMAMLP: return "LLaMAMLP";
    case MlpClass::GptNeoxMLP: return "GptNeoxMLP";
    case MlpClass::GemmaMLP: return "GemmaMLP";
    case MlpClass::LLaMAMoE: return "LLaMAMoE";
  }
  return "?";
}

GPTConfig gpt_config_from_json(const json& object, const std::string& source, const std::string& default_name,
                               ConfigDialect dialect) {
  if (!object.is_object()) throw InputError(fmt::format("{}: a model config must be a JSON object", source));
  const bool litgpt = dialect == ConfigDialect::LitGPT;
  GPTConfig config;
  if (litgpt) {
    // LitGPT's Config defaults for what metaguard's own files must state.
    config.n_layer = 16;
    config.n_head = 32;
    config.n_embd = 4096;
    config.vocab_size = 50254;
    config.block_size = 4096;
  }
  // LitGPT writes every field, null for "not set": that is the default here too.
  auto given = [&](const char* key) { return object.contains(key) && !object[key].is_null(); };
  const auto& readers = field_readers();
  for (const auto& item : object.items()) {
    if (litgpt && is_lora_field(item.key())) continue;  // a LoRA checkpoint's model_config.yaml: see lora_config
    auto reader = readers.find(item.key());
    if (reader == readers.end()) {
      throw InputError(fmt::format("{}: unknown field '{}' (known fields: {})", source, item.key(), known_fields()));
    }
    if (item.value().is_null() && item.key() != "latent_attention") continue;
    reader->second(config, item.value(), source, item.key());
  }
  if (!litgpt) {
    for (const char* required : {"n_layer", "n_head", "n_embd", "vocab_size", "block_size"}) {
      if (!given(required)) fail(source, required, "is required");
    }
  }
  if (!given("name")) {
    const bool hf_name = object.contains("hf_config") && object["hf_config"].is_object() &&
                         object["hf_config"].contains("name") && object["hf_config"]["name"].is_string();
    config.name = hf_name ? object["hf_config"]["name"].get<std::string>() : default_name;
  }
  if (!given("n_query_groups")) config.n_query_groups = config.n_head;
  if (!given("head_size") && config.n_head > 0) {
    if (config.n_embd % config.n_head != 0) {
      fail(source, "n_embd", fmt::format("{} is not divisible by n_head {} (and no head_size is given)", config.n_embd,
                                         config.n_head));
    }
    config.head_size = config.n_embd / config.n_head;
  }
  if (!given("padded_vocab_size") && config.vocab_size > 0) {
    int64_t multiple = 512;  // LitGPT's Config.padding_multiple
    if (given("padding_multiple")) multiple = read_int(object["padding_multiple"], source, "padding_multiple");
    if (multiple < 1) fail(source, "padding_multiple", "must be at least 1");
    config.padded_vocab_size = (config.vocab_size + multiple - 1) / multiple * multiple;
  } else if (litgpt && config.padded_vocab_size > 0) {
    config.vocab_size = std::min(config.vocab_size, config.padded_vocab_size);  // as LitGPT clips it
  }
  if (!given("intermediate_size")) {
    if (config.gated_mlp()) fail(source, "intermediate_size", fmt::format("is required for {}", to_string(config.mlp_class)));
    config.intermediate_size = 4 * config.n_embd;
  }
  // An expert's width, as LitGPT's LLaMAMLP takes it: moe_intermediate_size or intermediate_size.
  if (config.mlp_class == MlpClass::LLaMAMoE && config.moe_intermediate_size == 0) {
    config.moe_intermediate_size = config.intermediate_size;
  }
  if (config.sliding_window_size > 0) fill_indicators(config.sliding_window_indices, config.n_layer, source, "sliding_window_indices");
  if (config.rope_local_base_freq) fill_indicators(config.rope_indices, config.n_layer, source, "rope_indices");
  // LitGPT's name-dependent norms (Config.norm_class).
  config.norm_unit_offset = config.norm_class == NormClass::RMSNorm && config.name.find("Gemma") != std::string::npos;
  config.norm_affine = !(config.norm_class == NormClass::LayerNorm && config.name.find("OLMo") != std::string::npos);
  validate_gpt_config(config, source);
  return config;
}

void validate_gpt_config(const GPTConfig& c, const std::string& source) {
  if (c.name.empty()) fail(source, "name", "must not be empty");
  check_range(source, "n_layer", c.n_layer, kMaxLayers);
  check_range(source, "n_head", c.n_head, kMaxDimension);
  check_range(source, "n_embd", c.n_embd, kMaxDimension);
  check_range(source, "n_query_groups", c.n_query_groups, kMaxDimension);
  check_range(source, "head_size", c.head_size, kMaxDimension);
  check_range(source, "intermediate_size", c.intermediate_size, kMaxDimension);
  check_range(source, "vocab_size", c.vocab_size, kMaxDimension);
  check_range(source, "padded_vocab_size", c.padded_vocab_size, kMaxDimension);
  check_range(source, "block_size", c.block_size, kMaxDimension);
  if (c.n_head * c.head_size > kMaxDimension) fail(source, "head_size", "n_head * head_size is too large");
  if (c.n_query_groups > c.n_head || c.n_head % c.n_query_groups != 0) {
    fail(source, "n_query_groups",
         fmt::format("n_head {} is not divisible by n_query_groups {}", c.n_head, c.n_query_groups));
  }
  if (c.padded_vocab_size < c.vocab_size) {
    fail(source, "padded_vocab_size",
         fmt::format("{} is smaller than vocab_size {}", c.padded_vocab_size, c.vocab_size));
  }
  if (!(c.rotary_percentage > 0 && c.rotary_percentage <= 1)) {
    fail(source, "rotary_percentage", fmt::format("{} is not in (0, 1]", c.rotary_percentage));
  }
  int64_t rope = c.rope_n_elem();
  if (rope < 2 || rope % 2 != 0) {
    fail(source, "rotary_percentage",
         fmt::format("{} of head_size {} gives {} rotary dimensions; that must be an even number of at least 2",
                     c.rotary_percentage, c.head_size, rope));
  }
  if (!(c.norm_eps > 0) || !std::isfinite(c.norm_eps)) {
    fail(source, "norm_eps", fmt::format("{} must be positive", c.norm_eps));
  }
  if (!(c.rope_base > 0) || !std::isfinite(c.rope_base)) {
    fail(source, "rope_base", fmt::format("{} must be positive", c.rope_base));
  }
  if (c.rope_condense_ratio < 1) fail(source, "rope_condense_ratio", "must be at least 1");
  if (c.attention_scores_scalar < 0) fail(source, "attention_scores_scalar", "must be positive");
  if (c.sliding_window_size < 0) fail(source, "sliding_window_size", "must be positive");
  if (c.sliding_window_size > 0 && static_cast<int64_t>(c.sliding_window_indices.size()) != c.n_layer) {
    fail(source, "sliding_window_indices", fmt::format("needs {} entries", c.n_layer));
  }
  if (c.rope_local_base_freq && !(*c.rope_local_base_freq > 0)) fail(source, "rope_local_base_freq", "must be positive");
  if (c.rope_local_base_freq && static_cast<int64_t>(c.rope_indices.size()) != c.n_layer) {
    fail(source, "rope_indices", fmt::format("needs {} entries", c.n_layer));
  }
  for (const auto* cap : {&c.attention_logit_softcapping, &c.final_logit_softcapping}) {
    if (*cap && !(**cap > 0)) {
      fail(source, cap == &c.final_logit_softcapping ? "final_logit_softcapping" : "attention_logit_softcapping",
           "must be positive");
    }
  }
  if (!c.parallel_residual && c.shared_attention_norm) {
    fail(source, "shared_attention_norm", "needs parallel_residual (LitGPT refuses this combination too)");
  }
  if (c.mlp_class == MlpClass::LLaMAMoE) {
    check_range(source, "n_expert", c.n_expert, kMaxExperts);
    check_range(source, "n_expert_per_token", c.n_expert_per_token, c.n_expert);
    check_range(source, "moe_intermediate_size", c.moe_intermediate_size, kMaxDimension);
    if (c.n_layer * c.n_expert > kMaxExpertModules) {
      fail(source, "n_expert", fmt::format("{} experts in each of {} layers is more than the supported {} in all",
                                           c.n_expert, c.n_layer, kMaxExpertModules));
    }
  }
}

json gpt_config_to_json(const GPTConfig& c) {
  json out{{"name", c.name},
           {"n_layer", c.n_layer},
           {"n_head", c.n_head},
           {"n_query_groups", c.n_query_groups},
           {"n_embd", c.n_embd},
           {"head_size", c.head_size},
           {"intermediate_size", c.intermediate_size},
           {"vocab_size", c.vocab_size},
           {"padded_vocab_size", c.padded_vocab_size},
           {"block_size", c.block_size},
           {"rotary_percentage", c.rotary_percentage},
           {"parallel_residual", c.parallel_residual},
           {"bias", c.bias},
           {"norm_class", to_string(c.norm_class)},
           {"norm_eps", c.norm_eps},
           {"mlp_class", to_string(c.mlp_class)},
           {"rope_base", c.rope_base},
           {"tie_embeddings", c.tie_embeddings}};
  // The later features, only where they are on: older run.json files stay equal.
  const GPTConfig defaults;
  auto flag = [&](const char* key, bool value, bool fallback) {
    if (value != fallback) out[key] = value;
  };
  flag("attn_bias", c.attn_bias, defaults.attn_bias);
  flag("norm_1", c.norm_1, defaults.norm_1);
  flag("norm_2", c.norm_2, defaults.norm_2);
  flag("post_attention_norm", c.post_attention_norm, defaults.post_attention_norm);
  flag("post_mlp_norm", c.post_mlp_norm, defaults.post_mlp_norm);
  flag("shared_attention_norm", c.shared_attention_norm, defaults.shared_attention_norm);
  flag("norm_qk", c.norm_qk, defaults.norm_qk);
  if (c.norm_qk_olmo2) out["norm_qk_type"] = "olmo2";
  flag("rope_interleave", c.rope_interleave, defaults.rope_interleave);
  flag("scale_embeddings", c.scale_embeddings, defaults.scale_embeddings);
  flag("lm_head_bias", c.lm_head_bias, defaults.lm_head_bias);
  if (c.attention_scores_scalar != 0) out["attention_scores_scalar"] = c.attention_scores_scalar;
  if (c.sliding_window_size != 0) {
    out["sliding_window_size"] = c.sliding_window_size;
    out["sliding_window_indices"] = c.sliding_window_indices;
  }
  if (c.attention_logit_softcapping) out["attention_logit_softcapping"] = *c.attention_logit_softcapping;
  if (c.final_logit_softcapping) out["final_logit_softcapping"] = *c.final_logit_softcapping;
  if (c.rope_condense_ratio != 1) out["rope_condense_ratio"] = c.rope_condense_ratio;
  if (c.rope_adjustments) out["rope_adjustments"] = rope_adjustments_to_json(*c.rope_adjustments);
  if (c.rope_local_base_freq) {
    out["rope_local_base_freq"] = *c.rope_local_base_freq;
    out["rope_indices"] = c.rope_indices;
  }
  if (c.gelu_approximate != "none") out["gelu_approximate"] = c.gelu_approximate;
  if (c.mlp_class == MlpClass::LLaMAMoE) {
    out["n_expert"] = c.n_expert;
    out["n_expert_per_token"] = c.n_expert_per_token;
    out["moe_intermediate_size"] = c.moe_intermediate_size;
  }
  return out;
}

json litgpt_config_json(const GPTConfig& c) {
  json out = gpt_config_to_json(c);
  out.erase("tie_embeddings");
  out["norm_class_name"] = out["norm_class"];
  out["mlp_class_name"] = out["mlp_class"];
  out.erase("norm_class");
  out.erase("mlp_class");
  return out;
}

GPTConfig load_gpt_config(const std::string& path) {
  const fs::path file(path);
  std::string text = read_input_text(file.string(), kMaxConfigBytes, "model config");
  json object;
  try {
    object = json::parse(text);
  } catch (const json::exception& error) {
    throw InputError(fmt::format("{}: not valid JSON: {}", file.string(), error.what()));
  }
  return gpt_config_from_json(object, file.string(), file.stem().string());
}

}  // namespace metaguard
