// Loads a checkpoint into a model built on meta, as `preflight`'s real counterpart (the
// trainer) does, and reports wall time and memory. See bench/README-load.md.
//
//   build/bench/torch_load_bench CHECKPOINT [--model fixtures/models/tinyllama-1.1b.json]
//                                [--lora none|SPEC] [--threads N] [--dry-run]
//
// Prints one JSON object: seconds (open + load), bytes read, GB/s, the model's tensor bytes,
// peak RSS of the process (ru_maxrss) and RSS before loading, and the findings.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "core/errors.hpp"
#include "load/checkpoint_loader.hpp"
#include "model/gpt.hpp"
#include "model/gpt_config.hpp"
#include "model/model_catalog.hpp"
#include "model/lora_config.hpp"

namespace {

double rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double peak_rss_mib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

int usage() {
  std::cerr << "usage: torch_load_bench CHECKPOINT [--model CONFIG] [--lora none|SPEC] [--threads N] [--dry-run]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace metaguard;
  if (argc < 2) return usage();
  std::string path = argv[1];
  std::string model_name = "fixtures/models/tinyllama-1.1b.json";
  std::string lora_spec = "none";
  int threads = 2;
  bool dry_run = false;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--model" && i + 1 < argc) {
      model_name = argv[++i];
    } else if (arg == "--lora" && i + 1 < argc) {
      lora_spec = argv[++i];
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = std::stoi(argv[++i]);
    } else if (arg == "--dry-run") {
      dry_run = true;
    } else {
      return usage();
    }
  }
  try {
    GPTConfig config = resolve_model_config(model_name);
    std::optional<LoRAConfig> lora = parse_lora_spec(lora_spec);
    BuildOptions build;
    build.device = torch::kMeta;
    GPT model = build_gpt(config, lora, build);
    TensorStateTracker tracker(dry_run);
    ModuleWalker walker(*model, &tracker);
    int64_t tensor_bytes = 0;
    for (const auto& live : walker.tensors()) {
      if (is_persistent(live.kind)) tensor_bytes += live.tensor.nbytes();
    }
    const double rss_before = rss_mib();

    auto start = std::chrono::steady_clock::now();
    CheckpointFile file = CheckpointFile::open(path);
    LoadOptions options;
    options.threads = threads;
    options.keys = lora ? KeyMapping::LoraBase : KeyMapping::Identity;
    LoadResult result = load_checkpoint(walker, tracker, file, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    nlohmann::json findings = nlohmann::json::array();
    for (const auto& f : result.findings) findings.push_back(f.code + " " + f.tensor.value_or(""));
    nlohmann::json out = {
        {"checkpoint", path},
        {"model", config.name},
        {"dry_run", dry_run},
        {"threads", threads},
        {"seconds", seconds},
        {"bytes_read", result.bytes_read},
        {"gb_per_s", seconds > 0 ? static_cast<double>(result.bytes_read) / seconds / 1e9 : 0.0},
        {"tensor_bytes", tensor_bytes},
        {"loaded", result.loaded.size()},
        {"rss_before_mib", rss_before},
        {"peak_rss_mib", peak_rss_mib()},
        {"findings", findings},
    };
    std::cout << out.dump(2) << "\n";
    return result.findings.empty() ? 0 : 1;
  } catch (const InputError& error) {
    std::cerr << "torch_load_bench: error: " << error.what() << "\n";
    return 2;
  }
}
