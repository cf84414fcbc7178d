#pragma once
#include <cstdint>
#include <string>

namespace metaguard {

// A tensor an optimizer holds, as data: what walk/optimizer_entries.hpp reads off a live
// optimizer (or the Python binding off a Python one) and the optimizer-stale-reference check
// compares with the module's tensors.
struct OptimizerEntry {
  std::string label;          // "param_groups[0][3]"
  std::string expected_name;  // the module tensor it was built for, when known
  uint64_t tensor_key = 0;
  std::string device;
};

}  // namespace metaguard
