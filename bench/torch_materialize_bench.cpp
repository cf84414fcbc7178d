// Benchmark of in-place materialization: 4 GiB of meta parameters.
// Usage: torch_materialize_bench MODE [GiB=4]
//   MODE: constant | normal1 | normal2 (materialize with that recipe and thread count),
//         memset | normal-reference (the baselines over the same bytes).
// Run each mode in its own process so peak RSS is that mode's alone.
#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "repair/materializer.hpp"

namespace {

double rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

struct Big : torch::nn::Module, metaguard::TensorDeclarations {
  Big(int64_t tensors, int64_t elements, metaguard::InitRecipe recipe) {
    for (int64_t i = 0; i < tensors; ++i) {
      std::string name = "w" + std::to_string(i);
      register_parameter(name, torch::empty({elements}, torch::TensorOptions().device(torch::kMeta)));
      declare_init(name, recipe);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: torch_materialize_bench constant|normal1|normal2|memset|normal-reference [GiB]\n";
    return 2;
  }
  const std::string mode = argv[1];
  const double gib = argc > 2 ? std::stod(argv[2]) : 4.0;
  const int64_t bytes = static_cast<int64_t>(gib * (1LL << 30));
  const int64_t elements_per_tensor = 16 * 1024 * 1024;  // 64 MiB of float32
  const int64_t tensors = bytes / (elements_per_tensor * 4);
  at::set_num_threads(1);
  const double baseline_mb = rss_mb();
  auto start = std::chrono::steady_clock::now();
  if (mode == "memset") {
    auto* memory = static_cast<volatile char*>(std::malloc(static_cast<size_t>(bytes)));
    start = std::chrono::steady_clock::now();
    std::memset(const_cast<char*>(memory), 1, static_cast<size_t>(bytes));
    // Read back through volatile so the compiler cannot drop the fill.
    if (memory[bytes - 1] != 1) return 1;
    std::free(const_cast<char*>(memory));
  } else if (mode == "normal-reference") {
    torch::Tensor t = torch::empty({tensors * elements_per_tensor});
    start = std::chrono::steady_clock::now();
    t.normal_();
  } else {
    metaguard::InitRecipe recipe = mode == "constant" ? metaguard::InitRecipe::constant(0.5) : metaguard::InitRecipe::normal(0, 1);
    Big model(tensors, elements_per_tensor, recipe);
    metaguard::TensorStateTracker tracker;
    metaguard::ModuleWalker walker(model, &tracker);
    metaguard::MaterializeOptions options;
    options.seed = 1;
    options.threads = mode == "normal2" ? 2 : 1;
    start = std::chrono::steady_clock::now();
    metaguard::materialize(walker, tracker, options);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json result = {{"mode", mode},
                           {"bytes", bytes},
                           {"seconds", seconds},
                           {"gib_per_s", gib / seconds},
                           {"baseline_rss_mb", baseline_mb},
                           {"peak_rss_mb", rss_mb()},
                           {"peak_minus_baseline_minus_data_mb", rss_mb() - baseline_mb - bytes / 1048576.0}};
  std::cout << result.dump() << "\n";
  return 0;
}
