#include <catch2/catch.hpp>
#include <rapidcheck/catch.h>

#include <set>

#include "report/module_tree.hpp"
#include "report_fixtures.hpp"

using namespace metaguard;
using metaguard::test::tensor;

namespace {

const ModuleNode* child(const ModuleNode& node, const std::string& label) {
  for (const auto& c : node.children) {
    if (c.label == label) return &c;
  }
  return nullptr;
}

void collect(const ModuleNode& node, std::multiset<size_t>& indices) {
  indices.insert(node.tensors.begin(), node.tensors.end());
  int sum = static_cast<int>(node.tensors.size());
  for (const auto& c : node.children) {
    collect(c, indices);
    sum += c.total();
  }
  RC_ASSERT(sum == node.total());  // a node counts exactly its subtree
}

}  // namespace

TEST_CASE("report module tree: modules from qualified names, chains merged", "[report][tree]") {
  std::vector<TensorRecord> tensors = {
      tensor("transformer.wte.weight"),
      tensor("transformer.h.0.attn.attn.weight"),
      tensor("transformer.h.0.attn.attn.lora_ind", "meta"),
      tensor("transformer.h.1.attn.attn.weight"),
      tensor("lm_head.weight"),
      tensor("scale"),
  };
  std::vector<TensorState> states = {TensorState::Materialized, TensorState::Materialized, TensorState::Meta,
                                     TensorState::Materialized, TensorState::Materialized, TensorState::Repaired};
  ModuleNode root = build_module_tree(tensors, states);
  CHECK(root.path.empty());
  CHECK(root.total() == 6);
  CHECK(root.tensors == std::vector<size_t>{5});  // "scale" belongs to the root module
  REQUIRE(root.children.size() == 2);
  CHECK(root.children[0].label == "transformer");  // registration order kept
  CHECK(root.children[1].label == "lm_head");
  CHECK(root.worst() == TensorState::Meta);

  const ModuleNode& transformer = root.children[0];
  const ModuleNode* h = child(transformer, "h");
  REQUIRE(h != nullptr);
  // "h.0" has a single child "attn" with no tensors of its own: merged into "0.attn.attn".
  const ModuleNode* layer0 = child(*h, "0.attn.attn");
  REQUIRE(layer0 != nullptr);
  CHECK(layer0->path == "transformer.h.0.attn.attn");
  CHECK(layer0->tensors == std::vector<size_t>{1, 2});
  CHECK(layer0->counts[static_cast<size_t>(TensorState::Meta)] == 1);
  CHECK(layer0->worst() == TensorState::Meta);
  const ModuleNode* layer1 = child(*h, "1.attn.attn");
  REQUIRE(layer1 != nullptr);
  CHECK(layer1->worst() == TensorState::Materialized);
}

TEST_CASE("report module tree: every tensor appears exactly once", "[report][tree][property]") {
  rc::prop("indices partition the tensors and counts add up", [] {
    auto segment = rc::gen::oneOf(rc::gen::element<std::string>("a", "b", "h", "attn", "weight", ""),
                                  rc::gen::map(rc::gen::inRange(0, 12), [](int i) { return std::to_string(i); }));
    auto name = rc::gen::map(rc::gen::resize(5, rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(segment))),
                             [](const std::vector<std::string>& parts) {
                               std::string out;
                               for (size_t i = 0; i < parts.size(); ++i) out += (i ? "." : "") + parts[i];
                               return out;
                             });
    auto names = *rc::gen::container<std::vector<std::string>>(name);
    std::vector<TensorRecord> tensors;
    std::vector<TensorState> states;
    for (size_t i = 0; i < names.size(); ++i) {
      tensors.push_back(tensor(names[i]));
      states.push_back(static_cast<TensorState>(i % ModuleNode::kStates));
    }
    ModuleNode root = build_module_tree(tensors, states);
    std::multiset<size_t> indices;
    collect(root, indices);
    RC_ASSERT(indices.size() == tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) RC_ASSERT(indices.count(i) == 1u);
  });
}
