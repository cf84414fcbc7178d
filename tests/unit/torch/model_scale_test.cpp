#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <string>

#include <torch/torch.h>

#include "model/gpt.hpp"
#include "model/parameter_count.hpp"
#include "support/paths.hpp"

using metaguard::BuildOptions;
using metaguard::GPT;
using metaguard::GPTConfig;

namespace {

GPTConfig fixture(const std::string& name) {
  return metaguard::load_gpt_config(metaguard::test::source_path("fixtures/models/" + name + ".json"));
}

int64_t unique_numel(GPT& model) {
  std::set<const void*> seen;
  int64_t total = 0;
  for (const auto& item : model->named_parameters()) {
    if (seen.insert(item.value().unsafeGetTensorImpl()).second) total += item.value().numel();
  }
  return total;
}

int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

}  // namespace

TEST_CASE("model scale: parameter counts match the published figures", "[model][scale]") {
  // Published totals (embeddings and LM head included): Pythia-14m 14,067,712;
  // TinyLlama-1.1B 1,100,048,384; Llama-2-7b 6,738,415,616; Llama-2-70b 68,976,648,192.
  const std::pair<const char*, int64_t> published[] = {{"pythia-14m", 14067712},
                                                       {"tinyllama-1.1b", 1100048384},
                                                       {"llama-2-7b", 6738415616},
                                                       {"llama-2-70b", 68976648192}};
  for (const auto& [name, total] : published) {
    CAPTURE(name);
    GPTConfig config = fixture(name);
    GPT model = metaguard::build_gpt(config, std::nullopt, BuildOptions{torch::kMeta});
    CHECK(unique_numel(model) == total);
    CHECK(metaguard::count_parameters(config, std::nullopt).base == total);
  }
  // micro: embedding + head 2 * 256 * 64, per layer 2 * 64 + 128 * 64 + 64 * 64 + 3 * 128 * 64, final norm 64.
  CHECK(metaguard::count_parameters(fixture("micro"), std::nullopt).base ==
        2 * 256 * 64 + 2 * (2 * 64 + 128 * 64 + 64 * 64 + 3 * 128 * 64) + 64);
}

TEST_CASE("model scale: llama-2-70b builds on meta in milliseconds, allocating nothing", "[model][scale]") {
  GPTConfig config = fixture("llama-2-70b");
  auto lora = metaguard::parse_lora_spec("r=8,alpha=16,dropout=0,targets=query+value");
  // Warm up once (first-call costs of the dispatcher), then take the best of a few builds.
  { GPT warm = metaguard::build_gpt(config, lora, BuildOptions{torch::kMeta}); }
  const int64_t rss_before = resident_bytes();
  double best_ms = 1e9;
  GPT model{nullptr};
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto start = std::chrono::steady_clock::now();
    model = metaguard::build_gpt(config, lora, BuildOptions{torch::kMeta});
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    best_ms = std::min(best_ms, ms);
  }
  const int64_t rss_after = resident_bytes();
  WARN("llama-2-70b (LoRA q+v) on meta: best build " << best_ms << " ms");
  CHECK(best_ms < 25.0);
  CHECK(rss_after - rss_before < 100LL * 1024 * 1024);

  auto params = model->named_parameters();
  auto buffers = model->named_buffers();
  // Per layer: norm_1, lora_A, lora_B, attn.linear, proj.linear, norm_2, fc_1, fc_2, proj = 9;
  // plus lm_head, wte, ln_f.
  CHECK(params.size() == 80 * 9 + 3);
  CHECK(buffers.size() == 3 + 80);
  for (const auto& item : params) CHECK(item.value().is_meta());
  for (const auto& item : buffers) CHECK(item.value().is_meta());
  const int64_t kv = 8 * 128, qkv = 8192 + 2 * kv;
  CHECK(params["lm_head.linear.weight"].sizes().vec() == std::vector<int64_t>{32000, 8192});
  CHECK(params["transformer.wte.weight"].sizes().vec() == std::vector<int64_t>{32000, 8192});
  CHECK(params["transformer.h.79.attn.attn.linear.weight"].sizes().vec() == std::vector<int64_t>{qkv, 8192});
  CHECK(params["transformer.h.79.attn.attn.lora_A"].sizes().vec() == std::vector<int64_t>{16, 8192});
  CHECK(params["transformer.h.79.attn.attn.lora_B"].sizes().vec() == std::vector<int64_t>{8192 + kv, 8});
  CHECK(params["transformer.h.0.attn.proj.linear.weight"].sizes().vec() == std::vector<int64_t>{8192, 8192});
  CHECK(params["transformer.h.0.mlp.fc_1.linear.weight"].sizes().vec() == std::vector<int64_t>{28672, 8192});
  CHECK(params["transformer.h.0.mlp.fc_2.linear.weight"].sizes().vec() == std::vector<int64_t>{28672, 8192});
  CHECK(params["transformer.h.0.mlp.proj.linear.weight"].sizes().vec() == std::vector<int64_t>{8192, 28672});
  CHECK(params["transformer.h.40.norm_2.weight"].sizes().vec() == std::vector<int64_t>{8192});
  CHECK(buffers["transformer.h.5.attn.attn.lora_ind"].sizes().vec() == std::vector<int64_t>{8192 + kv});
  CHECK(buffers["cos"].sizes().vec() == std::vector<int64_t>{4096, 128});
  CHECK(buffers["mask_cache"].sizes().vec() == std::vector<int64_t>{4096, 4096});

  int64_t base = 0, adapters = 0, nbytes = 0;
  for (const auto& item : params) {
    (metaguard::is_lora_parameter_name(item.key()) ? adapters : base) += item.value().numel();
    nbytes += static_cast<int64_t>(item.value().nbytes());
  }
  CHECK(base == 68976648192);
  CHECK(adapters == 80 * (16 * 8192 + (8192 + kv) * 8));
  CHECK(nbytes == 4 * (base + adapters));  // float32, reported in full although nothing is stored
}

TEST_CASE("model scale: every shared config builds on meta with the default LoRA", "[model][scale]") {
  auto lora = metaguard::parse_lora_spec("r=8,alpha=16,dropout=0,targets=query+value");
  for (const char* name : {"micro", "pythia-14m", "tinyllama-1.1b", "llama-2-7b", "llama-2-70b"}) {
    CAPTURE(name);
    GPTConfig config = fixture(name);
    GPT model = metaguard::build_gpt(config, lora, BuildOptions{torch::kMeta});
    CHECK(unique_numel(model) == metaguard::count_parameters(config, lora).total());
    CHECK(model->derived_buffer_names().size() == static_cast<size_t>(3 + config.n_layer));
  }
}
