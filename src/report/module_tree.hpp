#pragma once
#include <array>
#include <string>
#include <vector>

#include "core/tensor_record.hpp"
#include "report/tensor_state.hpp"

namespace metaguard {

// The module hierarchy recovered from qualified tensor names ("a.b.weight" is tensor
// "weight" of module "a.b"), for the HTML report's tree. Children keep the order in which
// the report lists their tensors (the model's registration order). A module with no
// tensors of its own and a single child is merged with it ("transformer.h"), so deep
// wrappers do not cost a level each.
struct ModuleNode {
  static constexpr size_t kStates = 6;  // TensorState's values

  std::string label;  // the name segment(s) this node adds to its parent's path
  std::string path;   // fully qualified; "" for the root
  std::vector<ModuleNode> children;
  std::vector<size_t> tensors;  // indices into the report's tensors: this module's own
  std::array<int, kStates> counts{};  // tensors in the whole subtree, by TensorState

  int total() const;
  // The worst state in the subtree (severity_rank), materialized when empty.
  TensorState worst() const;
};

ModuleNode build_module_tree(const std::vector<TensorRecord>& tensors,
                             const std::vector<TensorState>& states);

}  // namespace metaguard
