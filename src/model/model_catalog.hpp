#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/gpt_config.hpp"

namespace metaguard {

// What `--model M` names: a config, and for a LitGPT checkpoint directory also the
// checkpoint it holds.
struct ModelSource {
  GPTConfig config;
  std::string checkpoint;          // DIR/lit_model.pth when M is a checkpoint directory holding one
  std::string directory;           // M, when it is a checkpoint directory
};

// Where metaguard's own model files are looked up, in order:
//   $METAGUARD_MODELS_DIR,
//   <dir of the running executable>/../share/metaguard/models   (installed layout),
//   <dir of the running executable>/../fixtures/models          (a build dir inside the source tree),
//   $METAGUARD_SOURCE_DIR/fixtures/models                       (tests set this).
// Only directories that exist are returned.
std::vector<std::filesystem::path> model_search_dirs();

// The names (file stems of *.json) found in the search directories, sorted, unique.
std::vector<std::string> known_model_names();

// LitGPT's config catalog (fixtures/litgpt/configs.json, generated from LitGPT's config
// module by scripts/generate-litgpt-catalog.py), looked up like the models with
// $METAGUARD_LITGPT_DIR first. The entry whose name, Hugging Face name or "org/name" is
// `name`; nullopt when there is none (or no catalog).
std::optional<nlohmann::json> find_litgpt_config(const std::string& name);

// Resolves `--model M`:
//   - a directory: a LitGPT checkpoint directory; its model_config.yaml (or, without one,
//     the LitGPT config named like the directory, as LitGPT does), lit_model.pth as the
//     checkpoint when present;
//   - a path (contains '/' or ends in .json, .yaml, .yml): a config file, JSON in
//     metaguard's form or YAML in LitGPT's;
//   - a name: metaguard's models first, then LitGPT's catalog.
// Anything else is an InputError naming M.
ModelSource resolve_model(const std::string& name_or_path);

// resolve_model(M).config.
GPTConfig resolve_model_config(const std::string& name_or_path);

}  // namespace metaguard
