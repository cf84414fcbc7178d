#pragma once
#include <memory>
#include <string_view>
#include <vector>

#include "checks/check.hpp"

namespace metaguard {

// Every check, in a fixed order. Adding a check: its file, one line in registry.cpp,
// its tests, its line in docs/CHECKS.md.
const std::vector<std::unique_ptr<Check>>& all_checks();
const Check* find_check(std::string_view code);

// Runs every check; findings sorted (tensor, code).
std::vector<Finding> run_checks(const CheckContext& context);

}  // namespace metaguard
