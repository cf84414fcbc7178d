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
  if (spec.empty()) throw InputError("--lora: the spec is empty (e.g. r=8,alpha=16,targets=query+value, or none)");
  LoRAConfig lora;
  std::set<std::string> seen;
  for (const std::string& item : split(spec, ',')) {
    auto equals = item.find('=');
    if (equals == std::string::npos) {
      throw InputError(fmt::format("--lora: '{}' is not key=value (keys: r, alpha, dropout, targets)", item));
    }
    std::string key = item.substr(0, equals);
    std::string value = item.substr(equals + 1);
    if (!seen.insert(key).second) throw InputError(fmt::format("--lora: key '{}' is given twice", key));
    if (key == "r") lora.r = parse_rank(value);
    else if (key == "alpha") lora.alpha = parse_real(key, value);
    else if (key == "dropout") lora.dropout = parse_real(key, value);
    else if (key == "targets") parse_targets(lora, value);
    else throw InputError(fmt::format("--lora: unknown key '{}' (keys: r, alpha, dropout, targets)", key));
  }
  validate_lora_config(lora);
  return lora;
}

}  // namespace metaguard
