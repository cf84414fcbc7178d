#pragma once
#include <optional>
#include <string_view>

namespace metaguard {

// What a guard point does about error findings (CONTRACT.md's --on-meta).
enum class GuardPolicy { Off, Warn, Fail, Repair };

std::string_view to_string(GuardPolicy policy);
std::optional<GuardPolicy> parse_guard_policy(std::string_view text);

}  // namespace metaguard
