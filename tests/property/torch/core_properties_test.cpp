// Properties of the core over random module trees (issue "Foundation", tests 1-4).
#include <algorithm>
#include <cmath>
#include <set>

#include <catch2/catch.hpp>
#include <rapidcheck/catch.h>
#include <torch/torch.h>

#include "checks/registry.hpp"
#include "guard/guard.hpp"
#include "repair/normal_sampler.hpp"
#include "support/random_tree.hpp"
#include "walk/module_walker.hpp"

using namespace metaguard;
using namespace metaguard::test;

namespace {

std::string expected_code(SpecKind kind) {
  switch (kind) {
    case SpecKind::Parameter: return "meta-parameter";
    case SpecKind::Buffer: return "meta-buffer";
    case SpecKind::Derived: return "meta-nonpersistent-buffer";
  }
  return "";
}

}  // namespace

TEST_CASE("inventory lists exactly the tree's parameters and buffers, in order", "[property][walk]") {
  rc::prop("names and order match named_parameters() then named_buffers()", [] {
    TreeSpec spec = *gen_tree_spec();
    BuiltTree tree = build_tree(spec, 1);
    ModuleWalker walker(*tree.root);
    Inventory inventory = walker.snapshot();

    std::vector<std::string> expected;
    for (const auto& item : tree.root->named_parameters()) expected.push_back(item.key());
    for (const auto& item : tree.root->named_buffers()) expected.push_back(item.key());
    std::vector<std::string> actual;
    for (const auto& record : inventory.tensors()) actual.push_back(record.name);
    RC_ASSERT(actual == expected);

    // Every spec tensor is there with its kind, shape and device.
    for (const auto& entry : tree.entries) {
      const TensorRecord* record = inventory.find(entry.name);
      RC_ASSERT(record != static_cast<const TensorRecord*>(nullptr));
      RC_ASSERT(record->shape == entry.spec.shape);
      RC_ASSERT(record->is_meta() == entry.spec.meta);
      TensorKind kind = entry.spec.kind == SpecKind::Parameter ? TensorKind::Parameter
                        : entry.spec.kind == SpecKind::Buffer  ? TensorKind::Buffer
                                                               : TensorKind::NonpersistentBuffer;
      RC_ASSERT(record->kind == kind);
    }
    // Tied names share a storage id.
    for (const auto& entry : tree.entries) {
      if (entry.spec.tie_to < 0) continue;
      const auto& source = tree.entries[static_cast<size_t>(entry.spec.tie_to)];
      RC_ASSERT(inventory.find(entry.name)->storage == inventory.find(source.name)->storage);
    }
  });
}

TEST_CASE("meta findings name exactly the meta tensors, with the code of their kind", "[property][checks]") {
  rc::prop("one meta finding per meta tensor, none for the others", [] {
    TreeSpec spec = *gen_tree_spec();
    BuiltTree tree = build_tree(spec, 2);
    ModuleWalker walker(*tree.root);
    Inventory inventory = walker.snapshot();
    CheckContext context(inventory, "before-forward", 0, DataNeeds::all());
    std::set<std::pair<std::string, std::string>> found;
    for (const auto& finding : run_checks(context)) {
      RC_ASSERT(finding.tensor.has_value());
      found.emplace(*finding.tensor, finding.code);
    }
    std::set<std::pair<std::string, std::string>> expected;
    for (const auto& entry : tree.entries) {
      if (entry.spec.meta) expected.emplace(entry.name, expected_code(entry.spec.kind));
    }
    RC_ASSERT(found == expected);
  });
}

TEST_CASE("repair materializes every meta tensor and keeps everything else", "[property][repair]") {
  rc::prop("nothing meta after repair; others bit-identical with the same identity; ties kept; optimizer sees repairs",
           [] {
             TreeSpec spec = *gen_tree_spec();
             BuiltTree tree = build_tree(spec, 3);
             // Before: identities, and copies of the values of non-meta tensors.
             std::vector<const c10::TensorImpl*> impls;
             std::vector<torch::Tensor> values;
             std::vector<torch::Tensor> trainable;
             for (const auto& entry : tree.entries) {
               impls.push_back(entry.tensor.unsafeGetTensorImpl());
               values.push_back(entry.spec.meta ? torch::Tensor() : entry.tensor.clone());
               if (entry.spec.kind == SpecKind::Parameter && entry.tensor.requires_grad() && entry.spec.tie_to < 0 &&
                   entry.tensor.numel() > 0) {
                 trainable.push_back(entry.tensor);
               }
             }
             torch::optim::SGD optimizer(trainable, torch::optim::SGDOptions(0.5));

             TensorStateTracker tracker;
             Ledger ledger;
             ModuleWalker walker(*tree.root, &tracker);
             GuardConfig config;
             config.policy = GuardPolicy::Repair;
             config.repair.seed = 11;
             Guard guard(walker, tracker, ledger, config);
             guard.record("init");
             auto findings = guard.check_point("before-forward", DataNeeds::all());
             for (const auto& finding : findings) RC_ASSERT(finding.repaired);

             for (size_t i = 0; i < tree.entries.size(); ++i) {
               const auto& entry = tree.entries[i];
               RC_ASSERT(!entry.tensor.is_meta());
               const bool same_identity = entry.tensor.unsafeGetTensorImpl() == impls[i];
               RC_ASSERT(same_identity);
               if (values[i].defined()) RC_ASSERT(torch::equal(entry.tensor, values[i]));
               if (entry.spec.tie_to >= 0) {
                 const auto& source = tree.entries[static_cast<size_t>(entry.spec.tie_to)].tensor;
                 const bool one_storage = entry.tensor.data_ptr() == source.data_ptr();
                 RC_ASSERT(one_storage);
               }
             }
             // The optimizer built before the repair steps the repaired tensors.
             std::vector<torch::Tensor> before;
             for (auto& p : trainable) {
               before.push_back(p.detach().clone());
               p.mutable_grad() = torch::ones_like(p);
             }
             optimizer.step();
             for (size_t i = 0; i < trainable.size(); ++i) {
               auto expected = before[i].to(torch::kFloat64) - 0.5;
               RC_ASSERT(torch::allclose(trainable[i].detach().to(torch::kFloat64), expected, 1e-2, 1e-2));
             }
           });
}

TEST_CASE("repair is deterministic across thread counts and tensor order", "[property][repair]") {
  rc::prop("same seed, same bits", [] {
    TreeSpec spec = *gen_tree_spec();
    for (auto& node : spec.nodes) {
      for (auto& t : node.tensors) t.meta = true;
    }
    // Same names, registered in the opposite order. Ties refer to flat positions, so a
    // tree with ties keeps its order (its thread count still varies).
    bool has_ties = false;
    for (const auto& node : spec.nodes) {
      for (const auto& t : node.tensors) has_ties = has_ties || t.tie_to >= 0;
    }
    TreeSpec reversed = spec;
    if (!has_ties) {
      for (auto& node : reversed.nodes) std::reverse(node.tensors.begin(), node.tensors.end());
    }
    const int threads = *rc::gen::inRange(2, 5);
    auto materialized = [](const TreeSpec& s, int thread_count) {
      BuiltTree tree = build_tree(s, 4);
      TensorStateTracker tracker;
      ModuleWalker walker(*tree.root, &tracker);
      MaterializeOptions options;
      options.seed = 99;
      options.threads = thread_count;
      auto result = materialize(walker, tracker, options);
      RC_ASSERT(result.skipped.empty());
      return tree;
    };
    BuiltTree one = materialized(spec, 1);
    BuiltTree many = materialized(reversed, threads);
    for (const auto& entry : one.entries) {
      auto it = std::find_if(many.entries.begin(), many.entries.end(), [&](const auto& e) { return e.name == entry.name; });
      RC_ASSERT(it != many.entries.end());
      RC_ASSERT(torch::equal(entry.tensor, it->tensor));
    }
  });
}

TEST_CASE("normal samples do not depend on how many are asked for", "[property][repair]") {
  rc::prop("fill(n) is the first n values of fill(n + k), all finite", [] {
    const auto seed = *rc::gen::arbitrary<uint64_t>();
    const auto n = *rc::gen::inRange<int64_t>(0, 5000);
    const auto k = *rc::gen::inRange<int64_t>(0, 100);
    std::vector<float> shorter(static_cast<size_t>(n)), longer(static_cast<size_t>(n + k));
    NormalSampler(seed).fill(shorter.data(), n, 0, 1);
    NormalSampler(seed).fill(longer.data(), n + k, 0, 1);
    RC_ASSERT(std::equal(shorter.begin(), shorter.end(), longer.begin()));
    RC_ASSERT(std::all_of(longer.begin(), longer.end(), [](float v) { return std::isfinite(v); }));
  });
}
