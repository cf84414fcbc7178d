#include "model/model_catalog.hpp"

#include <set>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/input_files.hpp"
#include "core/shipped_files.hpp"
#include "core/yaml_document.hpp"

namespace metaguard {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::uintmax_t kMaxConfigBytes = 1 << 20;
constexpr std::uintmax_t kMaxCatalogBytes = 16 << 20;

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool looks_like_path(const std::string& text) {
  return text.find('/') != std::string::npos || ends_with(text, ".json") || ends_with(text, ".yaml") ||
         ends_with(text, ".yml");
}

// The parsed catalog, read once per process (it is shipped data, not user input).
const json* litgpt_catalog() {
  static const json catalog = [] {
    for (const auto& dir : shipped_dirs("litgpt", "METAGUARD_LITGPT_DIR")) {
      fs::path file = dir / "configs.json";
      std::error_code error;
      if (!fs::is_regular_file(file, error)) continue;
      json document = json::parse(read_input_text(file.string(), kMaxCatalogBytes, "LitGPT config catalog"), nullptr, false);
      if (document.is_object() && document.contains("configs") && document["configs"].is_array()) return document;
      throw InputError(fmt::format("{}: not a LitGPT config catalog", file.string()));
    }
    return json();
  }();
  return catalog.is_null() ? nullptr : &catalog;
}

// A string field of a catalog entry, "" when absent or not a string.
std::string text_field(const json& object, const char* key) {
  return object.is_object() && object.contains(key) && object[key].is_string() ? object[key].get<std::string>() : "";
}

std::string hf_name(const json& entry, bool with_org) {
  if (!entry.contains("hf_config")) return "";
  const json& hf = entry["hf_config"];
  std::string name = text_field(hf, "name");
  if (!with_org || name.empty()) return name;
  std::string org = text_field(hf, "org");
  return org.empty() ? "" : org + "/" + name;
}

GPTConfig config_from_litgpt(const json& entry, const std::string& source) {
  json fields = entry;
  return gpt_config_from_json(fields, source, "", ConfigDialect::LitGPT);
}

ModelSource from_checkpoint_directory(const fs::path& given) {
  // "ckpts/Llama-3.2-1B/" names the folder "Llama-3.2-1B", as without the slash.
  const fs::path dir = given.filename().empty() ? given.parent_path() : given;
  ModelSource source;
  source.directory = dir.string();
  const fs::path yaml = dir / "model_config.yaml";
  std::error_code error;
  if (fs::is_regular_file(yaml, error)) {
    const std::string where = yaml.string();
    json object = parse_yaml_document(read_input_text(yaml.string(), kMaxConfigBytes, "model config"), where);
    if (!object.is_object()) throw InputError(fmt::format("{}: a model config must be a mapping", where));
    source.config = gpt_config_from_json(object, where, dir.filename().string(), ConfigDialect::LitGPT);
  } else if (auto entry = find_litgpt_config(dir.filename().string())) {
    // As LitGPT's Config.from_checkpoint: no model_config.yaml, a directory named like a config.
    source.config = config_from_litgpt(*entry, fmt::format("LitGPT config '{}'", dir.filename().string()));
  } else {
    throw InputError(fmt::format("--model '{}': a directory without model_config.yaml, and '{}' is no LitGPT config name",
                                 dir.string(), dir.filename().string()));
  }
  if (fs::is_regular_file(dir / "lit_model.pth", error)) source.checkpoint = (dir / "lit_model.pth").string();
  return source;
}

}  // namespace

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

std::optional<json> find_litgpt_config(const std::string& name) {
  const json* catalog = litgpt_catalog();
  if (!catalog || name.empty()) return std::nullopt;
  for (const auto& entry : (*catalog)["configs"]) {
    if (!entry.is_object()) continue;
    if (text_field(entry, "name") == name || hf_name(entry, false) == name || hf_name(entry, true) == name) return entry;
  }
  return std::nullopt;
}

ModelSource resolve_model(const std::string& name_or_path) {
  if (name_or_path.empty()) throw InputError("--model: the model name is empty");
  std::error_code error;
  if (fs::is_directory(name_or_path, error)) return from_checkpoint_directory(name_or_path);
  ModelSource source;
  if (looks_like_path(name_or_path) || fs::is_regular_file(name_or_path, error)) {
    if (ends_with(name_or_path, ".yaml") || ends_with(name_or_path, ".yml")) {
      json object = parse_yaml_document(read_input_text(name_or_path, kMaxConfigBytes, "model config"), name_or_path);
      source.config = gpt_config_from_json(object, name_or_path, fs::path(name_or_path).stem().string(),
                                           ConfigDialect::LitGPT);
      return source;
    }
    // A name with a '/' may still be LitGPT's "org/name".
    if (!fs::exists(name_or_path, error) && !ends_with(name_or_path, ".json")) {
      if (auto entry = find_litgpt_config(name_or_path)) {
        source.config = config_from_litgpt(*entry, fmt::format("LitGPT config '{}'", name_or_path));
        return source;
      }
    }
    source.config = load_gpt_config(name_or_path);
    return source;
  }
  for (const auto& dir : model_search_dirs()) {
    fs::path candidate = dir / (name_or_path + ".json");
    if (fs::is_regular_file(candidate, error)) {
      source.config = load_gpt_config(candidate.string());
      return source;
    }
  }
  if (auto entry = find_litgpt_config(name_or_path)) {
    source.config = config_from_litgpt(*entry, fmt::format("LitGPT config '{}'", name_or_path));
    return source;
  }
  std::vector<std::string> known = known_model_names();
  throw InputError(fmt::format(
      "--model: unknown model '{}' (known: {}; LitGPT's config names such as Llama-3.2-1B{}; or a path to a config "
      "file or a LitGPT checkpoint directory)",
      name_or_path, known.empty() ? std::string("none found") : fmt::format("{}", fmt::join(known, ", ")),
      litgpt_catalog() ? "" : " (LitGPT's catalog was not found)"));
}

GPTConfig resolve_model_config(const std::string& name_or_path) { return resolve_model(name_or_path).config; }

}  // namespace metaguard
