#include "model/lora_config.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)

#include "core/errors.hpp"

namespace metaguard {
namespace {

constexpr int64_t kMaxRank = 1 << 16;
constexpr const char* kKnownTargets = "query, key, value, projection, mlp, head";

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string::size_type start = 0;
  while (true) {
    auto end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

int64_t parse_rank(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 9) {
    throw InputError(fmt::format("--lora: r must be a positive integer, got '{}'", text));
  }
  return std::stoll(text);
}

double parse_real(const std::string& key, const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789.eE+-") != std::string::npos) {
    throw InputError(fmt::format("--lora: {} must be a number, got '{}'", key, text));
  }
  errno = 0;
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno != 0 || !std::isfinite(value)) {
    throw InputError(fmt::format("--lora: {} must be a number, got '{}'", key, text));
  }
  return value;
}

void parse_targets(LoRAConfig& lora, const std::string& text) {
  lora.query = lora.key = lora.value = lora.projection = lora.mlp = lora.head = false;
  if (text.empty()) throw InputError(fmt::format("--lora: targets is empty (choose from {})", kKnownTargets));
  std::set<std::string> seen;
  for (const std::string& target : split(text, '+')) {
    if (!seen.insert(target).second) throw InputError(fmt::format("--lora: target '{}' is listed twice", target));
    if (target == "query") lora.query = true;
    else if (target == "key") lora.key = true;
    else if (target == "value") lora.value = true;
    else if (target == "projection") lora.projection = true;
    else if (target == "mlp") lora.mlp = true;
    else if (target == "head") lora.head = true;
    else throw InputError(fmt::format("--lora: unknown target '{}' (known: {})", target, kKnownTargets));
  }
}

// LitGPT's switch for one target ("lora_query" ...), or null for another key. The switches
// change the default targets (query and value, as LitGPT's finetune_lora defaults are).
bool* target_flag(LoRAConfig& lora, const std::string& key) {
  if (key == "lora_query") return &lora.query;
  if (key == "lora_key") return &lora.key;
  if (key == "lora_value") return &lora.value;
  if (key == "lora_projection") return &lora.projection;
  if (key == "lora_mlp") return &lora.mlp;
  if (key == "lora_head") return &lora.head;
  return nullptr;
}

bool parse_flag(const std::string& key, const std::string& text) {
  if (text == "true" || text == "True" || text == "1") return true;
  if (text == "false" || text == "False" || text == "0") return false;
  throw InputError(fmt::format("--lora: {} must be true or false, got '{}'", key, text));
}

}  // namespace

std::string LoRAConfig::to_spec() const {
  std::vector<std::string> targets;
  if (query) targets.emplace_back("query");
  if (key) targets.emplace_back("key");
  if (value) targets.emplace_back("value");
  if (projection) targets.emplace_back("projection");
  if (mlp) targets.emplace_back("mlp");
  if (head) targets.emplace_back("head");
  return fmt::format("r={},alpha={},dropout={},targets={}", r, alpha, dropout, fmt::join(targets, "+"));
}

void validate_lora_config(const LoRAConfig& lora) {
  if (lora.r < 1 || lora.r > kMaxRank) {
    throw InputError(fmt::format("--lora: r must be between 1 and {}, got {}", kMaxRank, lora.r));
  }
  if (!(lora.alpha > 0) || !std::isfinite(lora.alpha)) {
    throw InputError(fmt::format("--lora: alpha must be positive, got {}", lora.alpha));
  }
  if (!(lora.dropout >= 0 && lora.dropout < 1)) {
    throw InputError(fmt::format("--lora: dropout must be in [0, 1), got {}", lora.dropout));
  }
  if (!lora.any_target()) throw InputError(fmt::format("--lora: targets must name at least one of {}", kKnownTargets));
}

std::optional<LoRAConfig> parse_lora_spec(const std::string& spec) {
  if (spec == "none") return std::nullopt;
  constexpr const char* kKeys = "r, alpha, dropout, targets, or LitGPT's lora_r, lora_alpha, lora_dropout, lora_<target>";
  if (spec.empty()) throw InputError("--lora: the spec is empty (e.g. r=8,alpha=16,targets=query+value, or none)");
  LoRAConfig lora;
  std::set<std::string> seen;
  for (const std::string& item : split(spec, ',')) {
    auto equals = item.find('=');
    if (equals == std::string::npos) {
      throw InputError(fmt::format("--lora: '{}' is not key=value (keys: {})", item, kKeys));
    }
    std::string key = item.substr(0, equals);
    std::string value = item.substr(equals + 1);
    // LitGPT's names for the same settings: lora_r, lora_alpha, lora_dropout.
    const std::string plain = key == "lora_r" || key == "lora_alpha" || key == "lora_dropout" ? key.substr(5) : key;
    if (!seen.insert(plain).second) throw InputError(fmt::format("--lora: key '{}' is given twice", key));
    if (plain == "r") lora.r = parse_rank(value);
    else if (plain == "alpha") lora.alpha = parse_real(key, value);
    else if (plain == "dropout") lora.dropout = parse_real(key, value);
    else if (plain == "targets") parse_targets(lora, value);
    else if (bool* target = target_flag(lora, plain)) *target = parse_flag(key, value);
    else throw InputError(fmt::format("--lora: unknown key '{}' (keys: {})", key, kKeys));
  }
  bool flags = false;
  for (const auto& key : seen) flags = flags || target_flag(lora, key) != nullptr;
  if (flags && seen.count("targets")) {
    throw InputError("--lora: targets and LitGPT's lora_<target> keys exclude each other; use one form");
  }
  validate_lora_config(lora);
  return lora;
}

}  // namespace metaguard
