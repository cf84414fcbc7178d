#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/report.hpp"

namespace metaguard {

// Findings that tell one problem: the same code, severity, phase, state (repaired, allowed)
// and fix, tensors of one name shape (the same tensor of other layers: names equal but for
// their numbers), and the same message once the tensor's name and the rank are taken out.
// 640 findings of a 70B model on 8 ranks (one per layer and rank) are one group; a tensor
// or rank whose story differs is a group of its own, so an outlier stays visible.
struct FindingGroup {
  std::vector<size_t> members;       // indices into the findings, in their order
  std::vector<std::string> tensors;  // distinct, natural order; empty for model-level findings
  std::vector<int> ranks;            // distinct, sorted
  std::string tensor_pattern;        // compress_names(tensors), "" when none
  std::string ranks_text;            // rank_set_text(ranks, world size), "" when none
  std::string message;               // the first member's, speaking of the whole group
  const Finding* first = nullptr;    // code, severity, phase, hint, repaired, allowed

  size_t size() const { return members.size(); }
};

// The groups in the order of their first member.
std::vector<FindingGroup> group_findings(const std::vector<Finding>& findings, std::optional<int> world_size);

// "4 findings" when no two group, else "640 findings in 1 problem": the findings heading.
std::string findings_heading(size_t findings, size_t groups);

// The world size a report speaks of (training's, or preflight's `world_size`), if any.
std::optional<int> report_world_size(const Report& report);

}  // namespace metaguard
