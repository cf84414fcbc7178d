// Builds a module with a meta buffer, lets metaguard find and repair it; exits 0 only if
// both happened.
#include <iostream>

#include <torch/torch.h>

#include "checks/registry.hpp"
#include "repair/materializer.hpp"
#include "walk/module_walker.hpp"

struct Cache : torch::nn::Module, metaguard::TensorDeclarations {
  Cache() {
    table = register_buffer("table", torch::empty({8}, torch::TensorOptions().device(torch::kMeta)));
    declare_derived("table", [](const torch::Device& d) { return torch::arange(8, torch::TensorOptions().device(d)); });
  }
  torch::Tensor table;
};

int main() {
  Cache cache;
  metaguard::TensorStateTracker tracker;
  metaguard::ModuleWalker walker(cache, &tracker);
  metaguard::Inventory before = walker.snapshot();
  metaguard::CheckContext context(before, "before-forward");
  auto findings = metaguard::run_checks(context);
  if (findings.size() != 1 || findings[0].code != "meta-nonpersistent-buffer") return 1;
  metaguard::materialize(walker, tracker, metaguard::MaterializeOptions{});
  if (cache.table.is_meta() || cache.table[7].item<float>() != 7.0f) return 1;
  std::cout << "consumer: found and repaired " << *findings[0].tensor << "\n";
  return 0;
}
