#include "report/module_tree.hpp"

#include <map>

namespace metaguard {

static_assert(static_cast<size_t>(TensorState::Allowed) + 1 == ModuleNode::kStates,
              "ModuleNode::counts needs one slot per TensorState");
namespace {

struct Entry {
  std::vector<std::string> rest;  // segments below the current node
  size_t index;                   // into the tensor list
};

std::vector<std::string> split_name(const std::string& name) {
  std::vector<std::string> segments;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    segments.push_back(name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return segments;
}

std::string join_path(const std::string& parent, const std::string& label) {
  return parent.empty() ? label : parent + "." + label;
}

ModuleNode build(std::string label, std::string path, std::vector<Entry> entries,
                 const std::vector<TensorState>& states, bool is_root) {
  ModuleNode node;
  node.label = std::move(label);
  node.path = std::move(path);
  std::vector<std::string> order;
  std::map<std::string, std::vector<Entry>> groups;
  for (auto& entry : entries) {
    ++node.counts[static_cast<size_t>(states[entry.index])];
    if (entry.rest.size() == 1) {
      node.tensors.push_back(entry.index);
      continue;
    }
    std::string head = entry.rest.front();
    entry.rest.erase(entry.rest.begin());
    auto [it, inserted] = groups.try_emplace(head);
    if (inserted) order.push_back(head);
    it->second.push_back(std::move(entry));
  }
  for (const auto& head : order) {
    node.children.push_back(build(head, join_path(node.path, head), std::move(groups[head]), states, false));
  }
  // Merge single-child chains (never the root, whose label is the report's).
  while (!is_root && node.tensors.empty() && node.children.size() == 1) {
    ModuleNode child = std::move(node.children.front());
    node.label += "." + child.label;
    node.path = child.path;
    node.children = std::move(child.children);
    node.tensors = std::move(child.tensors);
  }
  return node;
}

}  // namespace

int ModuleNode::total() const {
  int sum = 0;
  for (int count : counts) sum += count;
  return sum;
}

TensorState ModuleNode::worst() const {
  TensorState worst = TensorState::Materialized;
  for (size_t i = 0; i < kStates; ++i) {
    auto state = static_cast<TensorState>(i);
    if (counts[i] > 0 && severity_rank(state) > severity_rank(worst)) worst = state;
  }
  return worst;
}

ModuleNode build_module_tree(const std::vector<TensorRecord>& tensors,
                             const std::vector<TensorState>& states) {
  std::vector<Entry> entries;
  entries.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) entries.push_back({split_name(tensors[i].name), i});
  return build("", "", std::move(entries), states, true);
}

}  // namespace metaguard
