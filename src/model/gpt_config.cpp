#include "model/gpt_config.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/input_files.hpp"
#include "core/shipped_files.hpp"

namespace metaguard {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Bounds that keep a config file from asking for absurd module trees: a layer count is
// paid for in modules even on meta, and dimensions beyond these exist in no public model.
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxDimension = int64_t{1} << 24;
constexpr std::uintmax_t kMaxConfigBytes = 1 << 20;
constexpr int64_t kVocabPaddingMultiple = 512;  // LitGPT's Config.padding_multiple

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
  return value.get<int64_t>();
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

using FieldReader = std::function<void(GPTConfig&, const json&, const std::string& source)>;

// One entry per accepted field; anything else in a file is an error naming it.
const std::map<std::string, FieldReader>& field_readers() {
  static const std::map<std::string, FieldReader> readers = {
      {"name", [](GPTConfig& c, const json& v, const std::string& s) { c.name = read_string(v, s, "name"); }},
      {"n_layer", [](GPTConfig& c, const json& v, const std::string& s) { c.n_layer = read_int(v, s, "n_layer"); }},
      {"n_head", [](GPTConfig& c, const json& v, const std::string& s) { c.n_head = read_int(v, s, "n_head"); }},
      {"n_query_groups",
       [](GPTConfig& c, const json& v, const std::string& s) { c.n_query_groups = read_int(v, s, "n_query_groups"); }},
      {"n_embd", [](GPTConfig& c, const json& v, const std::string& s) { c.n_embd = read_int(v, s, "n_embd"); }},
      {"head_size",
       [](GPTConfig& c, const json& v, const std::string& s) { c.head_size = read_int(v, s, "head_size"); }},
      {"intermediate_size",
       [](GPTConfig& c, const json& v, const std::string& s) {
         c.intermediate_size = read_int(v, s, "intermediate_size");
       }},
      {"vocab_size",
       [](GPTConfig& c, const json& v, const std::string& s) { c.vocab_size = read_int(v, s, "vocab_size"); }},
      {"padded_vocab_size",
       [](GPTConfig& c, const json& v, const std::string& s) {
         c.padded_vocab_size = read_int(v, s, "padded_vocab_size");
       }},
      {"block_size",
       [](GPTConfig& c, const json& v, const std::string& s) { c.block_size = read_int(v, s, "block_size"); }},
      {"rotary_percentage",
       [](GPTConfig& c, const json& v, const std::string& s) {
         c.rotary_percentage = read_number(v, s, "rotary_percentage");
       }},
      {"parallel_residual",
       [](GPTConfig& c, const json& v, const std::string& s) {
         c.parallel_residual = read_bool(v, s, "parallel_residual");
       }},
      {"bias", [](GPTConfig& c, const json& v, const std::string& s) { c.bias = read_bool(v, s, "bias"); }},
      {"norm_class",
       [](GPTConfig& c, const json& v, const std::string& s) {
         std::string text = read_string(v, s, "norm_class");
         if (text == "RMSNorm") c.norm_class = NormClass::RMSNorm;
         else if (text == "LayerNorm") c.norm_class = NormClass::LayerNorm;
         else fail(s, "norm_class", fmt::format("unknown norm class '{}' (known: RMSNorm, LayerNorm)", text));
       }},
      {"norm_eps",
       [](GPTConfig& c, const json& v, const std::string& s) { c.norm_eps = read_number(v, s, "norm_eps"); }},
      {"mlp_class",
       [](GPTConfig& c, const json& v, const std::string& s) {
         std::string text = read_string(v, s, "mlp_class");
         if (text == "LLaMAMLP") c.mlp_class = MlpClass::LLaMAMLP;
         else if (text == "GptNeoxMLP") c.mlp_class = MlpClass::GptNeoxMLP;
         else fail(s, "mlp_class", fmt::format("unknown MLP class '{}' (known: LLaMAMLP, GptNeoxMLP)", text));
       }},
      {"rope_base",
       [](GPTConfig& c, const json& v, const std::string& s) { c.rope_base = read_number(v, s, "rope_base"); }},
      {"tie_embeddings",
       [](GPTConfig& c, const json& v, const std::string& s) {
         c.tie_embeddings = read_bool(v, s, "tie_embeddings");
       }},
  };
  return readers;
}

std::string known_fields() {
  std::string list;
  for (const auto& [name, reader] : field_readers()) list += (list.empty() ? "" : ", ") + name;
  return list;
}

void check_range(const std::string& source, const char* field, int64_t value, int64_t max) {
  if (value < 1) fail(source, field, fmt::format("must be at least 1, got {}", value));
  if (value > max) fail(source, field, fmt::format("{} is larger than the supported {}", value, max));
}

std::string read_text_file(const fs::path& file) {
  std::error_code error;
  if (!fs::exists(file, error)) throw InputError(fmt::format("{}: model config file does not exist", file.string()));
  if (fs::is_directory(file, error)) throw InputError(fmt::format("{}: is a directory, not a model config file", file.string()));
  auto size = fs::file_size(file, error);
  if (error) throw InputError(fmt::format("{}: cannot read model config: {}", file.string(), error.message()));
  if (size > kMaxConfigBytes) {
    throw InputError(fmt::format("{}: {} bytes is too large for a model config (at most {})", file.string(), size,
                                 kMaxConfigBytes));
  }
  note_input_file(file.string());
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open model config: {}", file.string(), std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool looks_like_path(const std::string& text) {
  return text.find('/') != std::string::npos ||
         (text.size() > 5 && text.compare(text.size() - 5, 5, ".json") == 0);
}

}  // namespace

const char* to_string(NormClass norm) { return norm == NormClass::RMSNorm ? "RMSNorm" : "LayerNorm"; }
const char* to_string(MlpClass mlp) { return mlp == MlpClass::LLaMAMLP ? "LLaMAMLP" : "GptNeoxMLP"; }

GPTConfig gpt_config_from_json(const json& object, const std::string& source, const std::string& default_name) {
  if (!object.is_object()) throw InputError(fmt::format("{}: a model config must be a JSON object", source));
  GPTConfig config;
  const auto& readers = field_readers();
  for (const auto& item : object.items()) {
    auto reader = readers.find(item.key());
    if (reader == readers.end()) {
      throw InputError(fmt::format("{}: unknown field '{}' (known fields: {})", source, item.key(), known_fields()));
    }
    reader->second(config, item.value(), source);
  }
  for (const char* required : {"n_layer", "n_head", "n_embd", "vocab_size", "block_size"}) {
    if (!object.contains(required)) fail(source, required, "is required");
  }
  if (!object.contains("name")) config.name = default_name;
  if (!object.contains("n_query_groups")) config.n_query_groups = config.n_head;
  if (!object.contains("head_size") && config.n_head > 0) config.head_size = config.n_embd / config.n_head;
  if (!object.contains("padded_vocab_size") && config.vocab_size > 0) {
    config.padded_vocab_size =
        (config.vocab_size + kVocabPaddingMultiple - 1) / kVocabPaddingMultiple * kVocabPaddingMultiple;
  }
  if (!object.contains("intermediate_size")) {
    if (config.mlp_class == MlpClass::LLaMAMLP) fail(source, "intermediate_size", "is required for LLaMAMLP");
    config.intermediate_size = 4 * config.n_embd;
  }
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
  if (c.n_embd % c.n_head != 0) {
    fail(source, "n_embd", fmt::format("{} is not divisible by n_head {}", c.n_embd, c.n_head));
  }
  if (c.head_size * c.n_head != c.n_embd) {
    fail(source, "head_size",
         fmt::format("{} times n_head {} must equal n_embd {}", c.head_size, c.n_head, c.n_embd));
  }
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
}

json gpt_config_to_json(const GPTConfig& c) {
  return json{{"name", c.name},
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
}

GPTConfig load_gpt_config(const fs::path& file) {
  std::string text = read_text_file(file);
  json object;
  try {
    object = json::parse(text);
  } catch (const json::exception& error) {
    throw InputError(fmt::format("{}: not valid JSON: {}", file.string(), error.what()));
  }
  return gpt_config_from_json(object, file.string(), file.stem().string());
}

std::vector<fs::path> model_search_dirs() { return shipped_dirs("models", "METAGUARD_MODELS_DIR"); }

std::vector<std::string> known_model_names() {
  std::set<std::string> names;
  for (const auto& dir : model_search_dirs()) {
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(dir, error)) {
      if (entry.path().extension() == ".json") names.insert(entry.path().stem().string());
    }
  }
  return {names.begin(), names.end()};
}

GPTConfig resolve_model_config(const std::string& name_or_path) {
  if (name_or_path.empty()) throw InputError("--model: the model name is empty");
  if (looks_like_path(name_or_path)) return load_gpt_config(name_or_path);
  for (const auto& dir : model_search_dirs()) {
    fs::path candidate = dir / (name_or_path + ".json");
    std::error_code error;
    if (fs::is_regular_file(candidate, error)) return load_gpt_config(candidate);
  }
  std::error_code error;
  if (fs::is_regular_file(name_or_path, error)) return load_gpt_config(name_or_path);
  std::vector<std::string> known = known_model_names();
  throw InputError(fmt::format("--model: unknown model '{}' (known: {}; or give a path to a config JSON)",
                               name_or_path, known.empty() ? std::string("none found") : fmt::format("{}", fmt::join(known, ", "))));
}

}  // namespace metaguard
