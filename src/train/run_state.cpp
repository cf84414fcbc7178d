#include "train/run_state.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"

namespace metaguard {

nlohmann::json RunState::to_json() const {
  nlohmann::json val = nlohmann::json::array();
  for (const auto& v : val_losses) val.push_back({{"step", v.step}, {"loss", v.loss}});
  return {{"schema", kSchema},
          {"model", model},
          {"config", config},
          {"lora", lora},
          {"seed", seed},
          {"global_batch", global_batch},
          {"seq_len", seq_len},
          {"data", data},
          {"data_fingerprint", fmt::format("{:016x}", data_fingerprint)},
          {"base_checkpoint", base_checkpoint},
          {"step", step},
          {"world_size", world_size},
          {"full", full},
          {"weights", weights},
          {"optimizer", optimizer},
          {"losses", losses},
          {"val_losses", val},
          {"rng", "per-step: torch's generator is seeded from (seed, step, rank) before every step"}};
}

RunState RunState::from_json(const nlohmann::json& document, const std::string& origin) {
  auto field = [&](const char* name) -> const nlohmann::json& {
    if (!document.is_object() || !document.contains(name)) {
      throw InputError(fmt::format("{}: field '{}' is missing", origin, name));
    }
    return document.at(name);
  };
  auto fail = [&](const char* name, const char* expected) {
    return InputError(fmt::format("{}: field '{}' must be {}", origin, name, expected));
  };
  if (!field("schema").is_string() || field("schema").get<std::string>() != kSchema) {
    throw InputError(fmt::format("{}: not a metaguard run file (schema is not '{}')", origin, kSchema));
  }
  RunState out;
  auto text = [&](const char* name) {
    if (!field(name).is_string()) throw fail(name, "a string");
    return field(name).get<std::string>();
  };
  auto integer = [&](const char* name) {
    if (!field(name).is_number_integer()) throw fail(name, "an integer");
    return field(name).get<int64_t>();
  };
  out.model = text("model");
  out.config = field("config");
  if (!out.config.is_object()) throw fail("config", "an object");
  out.lora = text("lora");
  if (!field("seed").is_number_unsigned() && !field("seed").is_number_integer()) throw fail("seed", "an integer");
  out.seed = field("seed").get<uint64_t>();
  out.global_batch = integer("global_batch");
  out.seq_len = integer("seq_len");
  out.data = text("data");
  try {
    out.data_fingerprint = std::stoull(text("data_fingerprint"), nullptr, 16);
  } catch (const std::exception&) {
    throw fail("data_fingerprint", "a hexadecimal string");
  }
  if (document.contains("base_checkpoint")) out.base_checkpoint = text("base_checkpoint");
  out.step = integer("step");
  if (out.step < 0) throw fail("step", "non-negative");
  out.world_size = static_cast<int>(integer("world_size"));
  if (!field("full").is_boolean()) throw fail("full", "a boolean");
  out.full = field("full").get<bool>();
  out.weights = text("weights");
  out.optimizer = text("optimizer");
  if (!field("losses").is_array()) throw fail("losses", "an array");
  for (const auto& loss : field("losses")) {
    out.losses.push_back(loss.is_number() ? loss.get<double>() : std::numeric_limits<double>::quiet_NaN());
  }
  if (!field("val_losses").is_array()) throw fail("val_losses", "an array");
  for (const auto& v : field("val_losses")) {
    if (!v.is_object() || !v.contains("step") || !v.contains("loss")) throw fail("val_losses", "objects with step and loss");
    out.val_losses.push_back({v.at("step").get<int64_t>(),
                              v.at("loss").is_number() ? v.at("loss").get<double>() : std::numeric_limits<double>::quiet_NaN()});
  }
  for (const std::string* path : {&out.weights, &out.optimizer}) {
    if (path->empty() || path->front() == '/' || path->find("..") != std::string::npos) {
      throw InputError(fmt::format("{}: file name '{}' must be relative to the run directory", origin, *path));
    }
  }
  return out;
}

}  // namespace metaguard
