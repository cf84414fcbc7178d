#include "train/dist_env.hpp"

#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "core/errors.hpp"

namespace metaguard {
namespace {

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

int env_int(const char* name, int fallback, int min, int max) {
  auto text = env(name);
  if (!text) return fallback;
  try {
    size_t used = 0;
    long value = std::stol(*text, &used);
    if (used != text->size() || value < min || value > max) throw std::out_of_range(name);
    return static_cast<int>(value);
  } catch (const std::exception&) {
    throw InputError(fmt::format("environment variable {}: expected an integer in {}..{}, got '{}'", name, min, max, *text));
  }
}

}  // namespace

std::optional<DistEnv> DistEnv::from_environment() {
  if (!env("RANK")) return std::nullopt;
  DistEnv out;
  out.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  out.rank = env_int("RANK", 0, 0, out.world_size - 1);
  out.local_rank = env_int("LOCAL_RANK", out.rank, 0, out.world_size - 1);
  out.local_world_size = env_int("LOCAL_WORLD_SIZE", out.world_size, 1, out.world_size);
  out.master_addr = env("MASTER_ADDR").value_or("127.0.0.1");
  out.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  out.launched_by_metaguard = env("METAGUARD_LAUNCHED").value_or("") == "1";
  const std::string agent_store = env("TORCHELASTIC_USE_AGENT_STORE").value_or("");
  out.agent_store = agent_store == "True" || agent_store == "true" || agent_store == "1";
  out.run_id = env("TORCHELASTIC_RUN_ID").value_or("");
  out.restart_count = env_int("TORCHELASTIC_RESTART_COUNT", 0, 0, 1 << 20);
  return out;
}

}  // namespace metaguard
