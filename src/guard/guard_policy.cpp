#include "guard/guard_policy.hpp"

namespace metaguard {

std::string_view to_string(GuardPolicy policy) {
  switch (policy) {
    case GuardPolicy::Off: return "off";
    case GuardPolicy::Warn: return "warn";
    case GuardPolicy::Fail: return "fail";
    case GuardPolicy::Repair: return "repair";
  }
  return "fail";
}

std::optional<GuardPolicy> parse_guard_policy(std::string_view text) {
  if (text == "off") return GuardPolicy::Off;
  if (text == "warn") return GuardPolicy::Warn;
  if (text == "fail") return GuardPolicy::Fail;
  if (text == "repair") return GuardPolicy::Repair;
  return std::nullopt;
}

}  // namespace metaguard
