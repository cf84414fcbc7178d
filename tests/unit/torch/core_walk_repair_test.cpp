#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "guard/guard.hpp"
#include "repair/in_place.hpp"
#include "repair/recipe_fill.hpp"
#include "checks/registry.hpp"
#include "walk/module_walker.hpp"
#include "walk/optimizer_entries.hpp"
#include "walk/module_registries.hpp"

using namespace metaguard;

namespace {

// A small module with one of everything: parameter, persistent buffer, derived buffer,
// and a declared cache that is not registered at all.
struct Sample : torch::nn::Module, TensorDeclarations {
  explicit Sample(torch::Device device) {
    auto options = torch::TensorOptions().device(device);
    weight = register_parameter("weight", torch::empty({3, 4}, options));
    declare_init("weight", InitRecipe::normal(0, 1));
    running = register_buffer("running", torch::empty({4}, options));
    declare_init("running", InitRecipe::ones());
    index = register_buffer("index", torch::empty({3}, options.dtype(torch::kInt64)));
    declare_derived("index", [](const torch::Device& d) { return torch::tensor({0, 2, 4}, torch::TensorOptions().dtype(torch::kInt64).device(d)); });
    cache = torch::empty({2}, options);
    declare_cache("cache", &cache, [](const torch::Device& d) { return torch::full({2}, 7.0, torch::TensorOptions().device(d)); });
  }
  torch::Tensor weight, running, index, cache;
};

}  // namespace

TEST_CASE("walker: a large tree walked and described on two threads equals the one-thread result", "[walk]") {
  // Enough tensors to take the parallel path, with every kind, meta and cpu, and a tie.
  torch::nn::Module root;
  for (int m = 0; m < 1100; ++m) {
    auto child = std::make_shared<Sample>(m % 3 == 0 ? torch::Device(torch::kMeta) : torch::Device(torch::kCPU));
    root.register_module("s" + std::to_string(m), child);
  }
  auto tie = root.register_module("tie", std::make_shared<torch::nn::Module>());
  tie->register_parameter("w", root.named_parameters()["s1.weight"]);
  ModuleWalker walker(root);
  SnapshotOptions serial;
  serial.describe_threads = 1;
  SnapshotOptions parallel;
  parallel.describe_threads = 2;
  Inventory one = walker.snapshot(serial);
  Inventory two = walker.snapshot(parallel);
  REQUIRE(one.size() >= kParallelWalkTensors);
  REQUIRE(one.size() == two.size());
  for (size_t i = 0; i < one.size(); ++i) {
    const TensorRecord& a = one.tensors()[i];
    const TensorRecord& b = two.tensors()[i];
    INFO(a.name);
    CHECK(a.name == b.name);
    CHECK(a.kind == b.kind);
    CHECK(a.dtype == b.dtype);
    CHECK(a.shape == b.shape);
    CHECK(a.device == b.device);
    CHECK(a.storage == b.storage);
    CHECK(a.derived == b.derived);
    CHECK(a.requires_grad == b.requires_grad);
    CHECK(a.tensor_key == b.tensor_key);
  }
  CHECK(one.find("tie.w")->storage == one.find("s1.weight")->storage);
  // The two-thread walk keeps named_parameters() then named_buffers() order; caches last.
  std::vector<std::string> expected;
  for (const auto& item : root.named_parameters()) expected.push_back(item.key());
  for (const auto& item : root.named_buffers()) expected.push_back(item.key());
  std::vector<std::string> walked;
  for (const auto& live : walker.tensors()) walked.push_back(live.name);
  REQUIRE(walked.size() == expected.size() + 1100);  // one declared cache per Sample
  CHECK(std::equal(expected.begin(), expected.end(), walked.begin()));
  CHECK(walked.back() == "s1099.cache");
}

TEST_CASE("walker: an error on the second describing thread reaches the caller", "[walk]") {
  // A derived recipe that throws, in the half of a large tree the second thread describes.
  struct Throwing : torch::nn::Module, TensorDeclarations {
    Throwing() {
      register_buffer("index", torch::zeros({2}));
      declare_derived("index", [](const torch::Device&) -> torch::Tensor { throw std::runtime_error("recipe failed"); });
    }
  };
  torch::nn::Module root;
  for (int m = 0; m < 1100; ++m) root.register_module("s" + std::to_string(m), std::make_shared<Sample>(torch::kCPU));
  root.register_module("last", std::make_shared<Throwing>());
  ModuleWalker walker(root);
  SnapshotOptions options;
  options.verify_derived = true;
  REQUIRE(walker.tensors().size() >= kParallelWalkTensors);
  CHECK_THROWS_WITH(walker.snapshot(options), "recipe failed");
  options.verify_derived = false;
  CHECK(walker.snapshot(options).size() == walker.tensors().size());  // and the walker still works
}

TEST_CASE("walker: kinds, derived flags and declared caches", "[walk]") {
  Sample sample(torch::kMeta);
  ModuleWalker walker(sample);
  Inventory inventory = walker.snapshot();
  REQUIRE(inventory.size() == 4);
  CHECK(inventory.tensors()[0].name == "weight");
  CHECK(inventory.tensors()[0].kind == TensorKind::Parameter);
  CHECK(inventory.find("running")->kind == TensorKind::Buffer);
  CHECK(inventory.find("index")->kind == TensorKind::NonpersistentBuffer);
  CHECK(inventory.find("index")->derived);
  CHECK(inventory.find("cache")->kind == TensorKind::NonpersistentBuffer);
  CHECK(inventory.find("weight")->nbytes == 48);
  CHECK(inventory.find("index")->dtype == "int64");
  for (const auto& t : inventory.tensors()) CHECK(t.device == "meta");
}

TEST_CASE("materialize keeps identity and fills from recipes", "[repair]") {
  Sample sample(torch::kMeta);
  const c10::TensorImpl* impl = sample.weight.unsafeGetTensorImpl();
  TensorStateTracker tracker;
  ModuleWalker walker(sample, &tracker);
  auto result = materialize(walker, tracker, MaterializeOptions{});
  CHECK(result.skipped.empty());
  CHECK(sample.weight.unsafeGetTensorImpl() == impl);
  CHECK(sample.weight.device().is_cpu());
  CHECK(sample.weight.requires_grad());
  CHECK(torch::equal(sample.running, torch::ones({4})));
  CHECK(torch::equal(sample.index, torch::tensor({0, 2, 4})));
  CHECK(torch::equal(sample.cache, torch::full({2}, 7.0)));
  Inventory inventory = walker.snapshot();
  for (const auto& t : inventory.tensors()) CHECK_FALSE(t.uninitialized);
}

TEST_CASE("empty materialization is seen as uninitialized until something writes", "[walk][repair]") {
  Sample sample(torch::kMeta);
  TensorStateTracker tracker;
  ModuleWalker walker(sample, &tracker);
  MaterializeOptions options;
  options.fill = false;  // to_empty
  materialize(walker, tracker, options);
  Inventory inventory = walker.snapshot();
  for (const auto& t : inventory.tensors()) {
    CHECK(t.device == "cpu");
    CHECK(t.uninitialized);
  }
  {
    torch::NoGradGuard no_grad;
    sample.weight.normal_();  // any in-place write counts
  }
  inventory = walker.snapshot();
  CHECK_FALSE(inventory.find("weight")->uninitialized);
  CHECK(inventory.find("running")->uninitialized);
}

TEST_CASE("stale derived buffers are found by recomputing the recipe", "[walk][checks]") {
  Sample sample(torch::kMeta);
  TensorStateTracker tracker;
  ModuleWalker walker(sample, &tracker);
  materialize(walker, tracker, MaterializeOptions{});
  SnapshotOptions verify;
  verify.verify_derived = true;
  CHECK(walker.snapshot(verify).find("index")->derived_current == std::optional<bool>(true));
  sample.index[1] = 5;
  CHECK(walker.snapshot(verify).find("index")->derived_current == std::optional<bool>(false));
}

TEST_CASE("guard: fail names every culprit; repair clears them", "[guard]") {
  Sample sample(torch::kMeta);
  TensorStateTracker tracker;
  Ledger ledger;
  ModuleWalker walker(sample, &tracker);
  GuardConfig config;
  config.rank = 1;
  Guard failing(walker, tracker, ledger, config);
  failing.record("init");
  try {
    failing.check_point("before-validation", DataNeeds::all());
    FAIL("expected a GuardFailure");
  } catch (const GuardFailure& failure) {
    CHECK(failure.phase() == "before-validation");
    std::string message = failure.what();
    for (const char* name : {"weight", "running", "index", "cache"}) CHECK(message.find(name) != std::string::npos);
    CHECK(message.find("rank 1") != std::string::npos);
    CHECK(failure.findings().size() == 4);
  }

  config.policy = GuardPolicy::Repair;
  Guard repairing(walker, tracker, ledger, config);
  auto findings = repairing.check_point("before-validation", DataNeeds::all());
  REQUIRE(findings.size() == 4);
  for (const auto& f : findings) CHECK(f.repaired);
  CHECK_FALSE(sample.weight.is_meta());
  // The ledger tells the story.
  bool initialized = false;
  for (const auto& event : ledger.history("weight")) initialized = initialized || event.event == "initialized";
  CHECK(initialized);
}

TEST_CASE("an untied parameter is found and re-tied by repair", "[guard][repair]") {
  struct Tied : torch::nn::Module, TensorDeclarations {
    Tied() {
      auto meta = torch::TensorOptions().device(torch::kMeta);
      a = register_parameter("a", torch::empty({4}, meta));
      declare_init("a", InitRecipe::normal(0, 1));
      register_parameter("b", a);
    }
    torch::Tensor a;
  } tied;
  TensorStateTracker tracker;
  Ledger ledger;
  ModuleWalker walker(tied, &tracker);
  GuardConfig config;
  config.policy = GuardPolicy::Repair;
  Guard guard(walker, tracker, ledger, config);
  guard.record("init");
  materialize(walker, tracker, MaterializeOptions{});
  // A materializer that fills each name separately unties them.
  replace_registered_parameter(tied, "b", torch::randn({4}).requires_grad_());
  auto findings = guard.check_point("materialize", DataNeeds::all());
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].code == "tied-weights-broken");
  CHECK(findings[0].tensor == std::optional<std::string>("b"));
  CHECK(findings[0].repaired);
  auto params = tied.named_parameters();
  CHECK(params["a"].data_ptr() == params["b"].data_ptr());
}

TEST_CASE("dry run: nothing is allocated, the tracker says where tensors would be", "[walk][repair]") {
  Sample sample(torch::kMeta);
  TensorStateTracker tracker(/*dry_run=*/true);
  ModuleWalker walker(sample, &tracker);
  MaterializeOptions options;
  options.fill = false;
  materialize(walker, tracker, options);
  CHECK(sample.weight.is_meta());
  Inventory inventory = walker.snapshot();
  CHECK(inventory.find("weight")->device == "cpu");
  CHECK(inventory.find("weight")->uninitialized);

  refill(walker, tracker, {"weight"}, MaterializeOptions{});
  inventory = walker.snapshot();
  CHECK_FALSE(inventory.find("weight")->uninitialized);
  CHECK(inventory.find("weight")->content_hash.has_value());
  CHECK(inventory.find("running")->uninitialized);
}

TEST_CASE("swap_in_place is seen through every handle", "[repair]") {
  torch::Tensor meta = torch::empty({2, 2}, torch::TensorOptions().device(torch::kMeta)).requires_grad_();
  torch::Tensor alias = meta;
  swap_in_place(meta, torch::ones({2, 2}));
  CHECK(alias.device().is_cpu());
  CHECK(alias.requires_grad());
  CHECK(torch::equal(alias.detach(), torch::ones({2, 2})));
}

TEST_CASE("optimizer entries: a replaced parameter is a stale reference", "[walk][checks]") {
  struct Two : torch::nn::Module, TensorDeclarations {
    Two() {
      a = register_parameter("a", torch::zeros({3}));
      b = register_parameter("b", torch::zeros({2}));
    }
    torch::Tensor a, b;
  } model;
  torch::optim::SGD optimizer(model.parameters(), torch::optim::SGDOptions(0.1));
  ModuleWalker walker(model);
  auto clean = optimizer_entries(optimizer, walker);
  REQUIRE(clean.size() == 2);
  CHECK(clean[1].expected_name == "b");
  Inventory inventory = walker.snapshot();
  CheckContext context(inventory, "before-forward");
  context.optimizer = &clean;
  CHECK(run_checks(context).empty());

  // A materializer that replaces instead of filling in place leaves the optimizer behind.
  replace_registered_parameter(model, "b", torch::ones({2}).requires_grad_());
  inventory = walker.snapshot();
  auto stale = optimizer_entries(optimizer, walker);
  CheckContext after(inventory, "before-forward");
  after.optimizer = &stale;
  auto findings = run_checks(after);
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].code == "optimizer-stale-reference");
  CHECK(findings[0].tensor == std::optional<std::string>("b"));
  CHECK(findings[0].message.find("param_groups[0][1]") != std::string::npos);
}

TEST_CASE("a large trainable parameter is filled in chunks on several threads, same bits", "[repair]") {
  // More than four chunks, so the chunks themselves are spread over threads (each thread
  // must turn gradient recording off for itself: the parameter requires grad).
  const int64_t numel = 5 * kInitChunkElements + 123;
  auto build = [&] {
    auto model = std::make_shared<Sample>(torch::kMeta);
    model->register_parameter("big", torch::empty({numel}, torch::TensorOptions().device(torch::kMeta)));
    model->declare_init("big", InitRecipe::normal(0, 1));
    return model;
  };
  auto one = build();
  auto two = build();
  for (auto& [model, threads] : {std::pair{one, 1}, std::pair{two, 3}}) {
    TensorStateTracker tracker;
    ModuleWalker walker(*model, &tracker);
    MaterializeOptions options;
    options.seed = 5;
    options.threads = threads;
    CHECK(materialize(walker, tracker, options).skipped.empty());
  }
  auto a = one->named_parameters()["big"];
  auto b = two->named_parameters()["big"];
  CHECK(a.requires_grad());
  CHECK(torch::equal(a, b));
  CHECK(std::abs(a.mean().item<double>()) < 0.01);  // it is really N(0, 1), not zeros
  CHECK(std::abs(a.std().item<double>() - 1.0) < 0.01);
}
