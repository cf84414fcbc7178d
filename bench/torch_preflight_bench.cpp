// The work of `metaguard preflight --model M --world-size N` inside one process (LibTorch's
// start-up excluded): build every rank's model on meta, run every phase and check, render
// the text report. Prints the median and range of R runs per model, and the process's peak RSS.
//   build/bench/torch_preflight_bench [RUNS] [WORLD_SIZE] [--strategy=shard] MODEL...
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "preflight/preflight_run.hpp"
#include "report/renderer.hpp"

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 7;
  const int world = argc > 2 ? std::atoi(argv[2]) : 8;
  std::vector<std::string> models;
  std::string strategy = "replicate";
  for (int i = 3; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--strategy=", 0) == 0) {
      strategy = arg.substr(11);
    } else {
      models.push_back(arg);
    }
  }
  if (models.empty()) models = {"llama-2-70b", "Llama-3.1-405B", "Mixtral-8x22B-v0.1"};
  for (const auto& model : models) {
    std::vector<double> ms;
    size_t tensors = 0;
    for (int run = 0; run < runs; ++run) {
      metaguard::PreflightOptions options;
      options.model = model;
      options.world_size = world;
      options.strategy = strategy;
      auto start = std::chrono::steady_clock::now();
      metaguard::Report report = metaguard::run_preflight(options);
      std::string text = metaguard::make_renderer("text")->render(report);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      tensors = report.tensors.size();
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%-22s %d ranks (%s), %zu tensors: median %.1f ms (%.1f-%.1f)\n", model.c_str(), world,
                strategy.c_str(), tensors, ms[ms.size() / 2], ms.front(), ms.back());
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("peak RSS of the process: %.0f MB\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}
