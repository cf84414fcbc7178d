// Benchmark of the core's walk and checks over a module tree of 10,000 tensors.
// Usage: torch_core_bench [tensors=10000] [repeats=200]
// Prints one JSON object; bench/README.md says how to run it next to the Python peer.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "checks/registry.hpp"
#include "walk/module_walker.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

struct Leaf : torch::nn::Module, metaguard::TensorDeclarations {
  Leaf() {
    auto meta = torch::TensorOptions().device(torch::kMeta);
    register_parameter("weight", torch::empty({64, 64}, meta));
    register_parameter("bias", torch::empty({64}, meta));
    register_buffer("running_mean", torch::empty({64}, meta));
    register_buffer("index", torch::empty({8}, meta.dtype(torch::kInt64)));
    declare_nonpersistent("index");
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int tensors = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 200;
  // root -> 50 groups -> leaves of 4 tensors each.
  auto root = std::make_shared<torch::nn::Module>();
  const int leaves = tensors / 4;
  const int groups = 50;
  for (int g = 0; g < groups; ++g) {
    auto group = root->register_module("g" + std::to_string(g), std::make_shared<torch::nn::Module>());
    for (int l = g; l < leaves; l += groups) group->register_module("l" + std::to_string(l), std::make_shared<Leaf>());
  }

  auto start = Clock::now();
  metaguard::ModuleWalker walker(*root);
  metaguard::Inventory first = walker.snapshot();
  const double first_walk_ms = ms_since(start);

  std::vector<double> snapshot_and_checks, snapshot_only, torch_walk;
  size_t findings = 0;
  for (int i = 0; i < repeats; ++i) {
    start = Clock::now();
    metaguard::Inventory inventory = walker.snapshot();
    snapshot_only.push_back(ms_since(start));
    metaguard::CheckContext context(inventory, "init", 0, metaguard::DataNeeds::none());
    findings = metaguard::run_checks(context).size();
    snapshot_and_checks.push_back(ms_since(start));

    start = Clock::now();
    auto parameters = root->named_parameters();
    auto buffers = root->named_buffers();
    torch_walk.push_back(ms_since(start));
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  nlohmann::json result = {
      {"tensors", first.size()},
      {"first_walk_ms", first_walk_ms},
      {"repeated_snapshot_ms", median(snapshot_only)},
      {"repeated_snapshot_and_checks_ms", median(snapshot_and_checks)},
      {"cpp_named_parameters_and_buffers_ms", median(torch_walk)},
      {"findings", findings},
      {"peak_rss_mb", usage.ru_maxrss / 1024.0},
  };
  std::cout << result.dump(2) << "\n";
  return 0;
}
