// `metaguard preflight` as a user runs it: every injected fault is caught with its code,
// rank and phase; --repair clears it; bad input is one error line and exit 2.
#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "integration/preflight_process.hpp"
#include "support/run_process.hpp"
#include "support/scratch_dir.hpp"

using metaguard::test::metaguard_exe;
using metaguard::test::run_process;
using nlohmann::json;

namespace {

using Run = metaguard::test::PreflightRun;
using metaguard::test::preflight;

// Findings with this code whose tensor matches the pattern, as (rank, phase) pairs.
std::set<std::pair<int, std::string>> where_found(const json& report, const std::string& code, const std::string& tensor_regex) {
  std::set<std::pair<int, std::string>> found;
  std::regex pattern(tensor_regex);
  for (const auto& f : report["findings"]) {
    if (f["code"] != code || f["tensor"].is_null()) continue;
    if (!std::regex_match(f["tensor"].get<std::string>(), pattern)) continue;
    found.emplace(f["rank"].get<int>(), f["phase"].get<std::string>());
  }
  return found;
}

int error_count(const json& report) { return report["summary"]["errors"].get<int>(); }

int count_code(const json& report, const std::string& code) {
  return static_cast<int>(std::count_if(report["findings"].begin(), report["findings"].end(),
                                        [&](const json& f) { return f["code"] == code; }));
}

}  // namespace

TEST_CASE("preflight of the default is clean", "[preflight]") {
  auto run = preflight({});
  CHECK(run.exit_code == 0);
  CHECK(error_count(run.report) == 0);
  CHECK(run.report["command"] == "preflight");
  CHECK(run.report["preflight"]["world_size"] == 2);
  // Both ranks' tensors are listed; LoRA on query and value means lora_ind buffers exist.
  int lora_ind = 0;
  for (const auto& t : run.report["tensors"]) {
    if (std::regex_match(t["name"].get<std::string>(), std::regex(R"(transformer\.h\.\d+\.attn\.attn\.lora_ind)"))) {
      ++lora_ind;
      CHECK(t["kind"] == "nonpersistent_buffer");
    }
  }
  CHECK(lora_ind == 2 * 2);  // micro has 2 layers, 2 ranks
  // Only LoRA parameters train.
  CHECK(run.report["parameters"]["trainable_numel"].get<int64_t>() > 0);
  CHECK(run.report["parameters"]["frozen_numel"].get<int64_t>() > run.report["parameters"]["trainable_numel"].get<int64_t>());
  CHECK(run.report["memory"].size() == 2);
}

TEST_CASE("lora-ind-meta: caught on every rank at the first validation (LitGPT 1378/1385)", "[preflight][fault]") {
  auto run = preflight({"--inject", "lora-ind-meta"});
  CHECK(run.exit_code == 1);
  auto found = where_found(run.report, "meta-nonpersistent-buffer", R"(transformer\.h\.[01]\.attn\.attn\.lora_ind)");
  CHECK(found == std::set<std::pair<int, std::string>>{{0, "before-validation"}, {1, "before-validation"}});
  CHECK(error_count(run.report) == 4);  // 2 layers x 2 ranks
  for (const auto& f : run.report["findings"]) {
    CHECK(f["message"].get<std::string>().find("never recomputed") != std::string::npos);
  }
}

TEST_CASE("rope-cache-meta: cos and sin caught at the first validation", "[preflight][fault]") {
  auto run = preflight({"--inject", "rope-cache-meta"});
  CHECK(run.exit_code == 1);
  CHECK(where_found(run.report, "meta-nonpersistent-buffer", "cos|sin") ==
        std::set<std::pair<int, std::string>>{{0, "before-validation"}, {1, "before-validation"}});
}

TEST_CASE("skip-broadcast: rank 1 keeps meta parameters, caught after the broadcast", "[preflight][fault]") {
  auto run = preflight({"--inject", "skip-broadcast", "--world-size", "3"});
  CHECK(run.exit_code == 1);
  auto found = where_found(run.report, "meta-parameter", ".*");
  CHECK(found == std::set<std::pair<int, std::string>>{{1, "broadcast"}, {2, "broadcast"}});
  CHECK(where_found(run.report, "meta-parameter", "transformer\\.wte\\.weight").size() == 2);
}

TEST_CASE("untie-on-materialize: the head's tie to the embedding is broken on every rank", "[preflight][fault]") {
  auto run = preflight({"--model", "micro-tied", "--inject", "untie-on-materialize"});
  CHECK(run.exit_code == 1);
  CHECK(where_found(run.report, "tied-weights-broken", "lm_head\\.(linear\\.)?weight") ==
        std::set<std::pair<int, std::string>>{{0, "init"}, {1, "broadcast"}});
}

TEST_CASE("to-empty-no-init: nothing is meta, yet everything is garbage", "[preflight][fault]") {
  auto run = preflight({"--inject", "to-empty-no-init"});
  CHECK(run.exit_code == 1);
  CHECK(run.report["summary"]["meta"] == 0);
  auto params = where_found(run.report, "uninitialized-storage", "transformer\\.wte\\.weight");
  CHECK(params == std::set<std::pair<int, std::string>>{{0, "broadcast"}, {1, "broadcast"}});
  auto caches = where_found(run.report, "uninitialized-storage", "cos|sin");
  CHECK(caches == std::set<std::pair<int, std::string>>{{0, "before-validation"}, {1, "before-validation"}});
  CHECK(where_found(run.report, "meta-parameter", ".*").empty());
}

TEST_CASE("rank-seed-divergence: replicas differ, caught by the hash comparison", "[preflight][fault]") {
  auto run = preflight({"--inject", "rank-seed-divergence"});
  CHECK(run.exit_code == 1);
  auto found = where_found(run.report, "rank-divergence", "transformer\\.wte\\.weight");
  CHECK(found == std::set<std::pair<int, std::string>>{{1, "broadcast"}});
  // Constant-initialized tensors (norm weights) are equal on every rank, so not divergent.
  CHECK(where_found(run.report, "rank-divergence", ".*norm_1\\.weight").empty());
  CHECK(where_found(run.report, "rank-divergence", ".*").count({0, "broadcast"}) == 0);
}

TEST_CASE("preflight with repair clears every injected fault", "[preflight][repair]") {
  const std::vector<std::vector<std::string>> faults = {
      {"--inject", "lora-ind-meta"},  {"--inject", "rope-cache-meta"},      {"--inject", "skip-broadcast"},
      {"--inject", "to-empty-no-init"}, {"--inject", "rank-seed-divergence"},
      {"--model", "micro-tied", "--inject", "untie-on-materialize"},
  };
  for (auto args : faults) {
    args.push_back("--repair");
    auto run = preflight(args);
    INFO(args[1]);
    CHECK(run.exit_code == 0);
    CHECK(error_count(run.report) == 0);
    CHECK(run.report["summary"]["repaired"].get<int>() > 0);
    for (const auto& f : run.report["findings"]) {
      if (f["severity"] == "error") CHECK(f["repaired"] == true);
    }
  }
}

TEST_CASE("a clean preflight of every shared config has no error", "[preflight]") {
  for (const char* model : {"micro", "pythia-14m", "tinyllama-1.1b", "llama-2-7b", "llama-2-70b"}) {
    auto run = preflight({"--model", model, "--world-size", "2"});
    INFO(model << ": " << run.err);
    CHECK(run.exit_code == 0);
    CHECK(error_count(run.report) == 0);
  }
}

TEST_CASE("preflight by LitGPT's config names: today's families, and the LoRA index bug caught in them",
          "[preflight][litgpt]") {
  for (const char* model : {"Llama-3.2-1B", "Qwen2.5-7B", "Gemma-2-9b", "Mixtral-8x7B-v0.1", "Qwen/Qwen3-8B"}) {
    auto run = preflight({"--model", model, "--world-size", "2", "--lora", "lora_r=8,lora_mlp=true"});
    INFO(model << ": " << run.err);
    CHECK(run.exit_code == 0);
    CHECK(error_count(run.report) == 0);
  }
  auto caught = preflight({"--model", "Gemma-2-9b", "--world-size", "2", "--inject", "lora-ind-meta"});
  CHECK(caught.exit_code == 1);
  CHECK(count_code(caught.report, "meta-nonpersistent-buffer") == 2 * 42);  // every layer on both ranks
}

TEST_CASE("preflight of a LitGPT checkpoint directory loads the lit_model.pth it holds", "[preflight][litgpt]") {
  metaguard::test::ScratchDir dir;
  const std::string out = dir.file("run");
  auto trained = run_process({metaguard_exe(), "train", "--steps", "1", "--out", out}, 300);
  INFO(trained.err);
  REQUIRE(trained.exit_code == 0);
  auto run = preflight({"--model", out + "/final", "--world-size", "2"});
  INFO(run.err);
  CHECK(run.exit_code == 0);
  CHECK(error_count(run.report) == 0);
  CHECK(run.report["preflight"]["checkpoint"] == out + "/final/lit_model.pth");
}

TEST_CASE("preflight bad input: one error line naming the flag, exit 2", "[preflight][cli]") {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--world-size", "0"}, "--world-size"},
      {{"--world-size", "two"}, "world-size"},
      {{"--inject", "bogus"}, "bogus"},
      {{"--model", "no-such-model"}, "no-such-model"},
      {{"--lora", "targets=elbow"}, "elbow"},
      {{"--inject", "untie-on-materialize"}, "tie_embeddings"},
      {{"--inject", "skip-broadcast", "--world-size", "1"}, "--world-size"},
      {{"--format", "pdf"}, "pdf"},
      {{"--precision", "bf16"}, "--precision 'bf16': expected one of 32-true, 16-true, bf16-true, 16-mixed, bf16-mixed"},
      {{"--device", "tpu"}, "--device 'tpu'"},
      {{"--device-memory", "80XB"}, "--device-memory '80XB'"},
      {{"--strategy", "zero3"}, "--strategy 'zero3': expected replicate or shard"},
      {{"--micro-batch", "2"}, "--micro-batch: activations need --seq-len too"},
      {{"--micro-batch", "2", "--seq-len", "100000"}, "--seq-len: must be between 1 and the model's block size"},
      {{"--frobnicate"}, "frobnicate"},
  };
  for (const auto& [args, mentions] : cases) {
    std::vector<std::string> argv{metaguard_exe(), "preflight"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto result = run_process(argv);
    INFO(args[0] << " -> " << result.err);
    CHECK(result.exit_code == 2);
    CHECK(result.err.rfind("metaguard: error: ", 0) == 0);
    CHECK(result.err.find(mentions) != std::string::npos);
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
}

TEST_CASE("preflight memory in LitGPT's terms: llama-2-70b with LoRA does not fit 80 GiB GPUs unsharded", "[preflight][memory]") {
  // By hand (docs/TRAINING.md): every rank holds 68,976,648,192 frozen and 16,384,000
  // trainable elements, 2 bytes each at bf16-true, plus small int64 lora_ind buffers.
  auto run = preflight({"--model", "llama-2-70b", "--world-size", "8", "--device", "cuda", "--device-memory", "80GiB"});
  CHECK(run.exit_code == 1);
  REQUIRE(run.report["memory"].size() == 8);
  const auto& row = run.report["memory"][3];
  CHECK(row["rank"] == 3);
  CHECK(row["device"] == "cuda");
  CHECK(row["gradient_bytes"] == int64_t{16'384'000} * 2);
  CHECK(row["optimizer_bytes"] == int64_t{16'384'000} * 2 * 2);
  // Weights: the parameters at 2 bytes, the rotary cos and sin caches (4096 x 128 each, 2
  // bytes), the causal mask (4096 x 4096 bools) and 80 int64 lora_ind buffers of 8192 + 1024.
  const int64_t parameters = (int64_t{68'976'648'192} + 16'384'000) * 2;
  const int64_t buffers = 2 * 4096 * 128 * 2 + 4096 * 4096 + 80 * (8192 + 1024) * 8;
  CHECK(row["weight_bytes"].get<int64_t>() == parameters + buffers);
  int exceeded = 0;
  for (const auto& f : run.report["findings"]) {
    if (f["code"] != "device-memory-exceeded") continue;
    ++exceeded;
    CHECK(f["severity"] == "error");
    CHECK(f["message"].get<std::string>().find("48.6 GiB more than the 80.0 GiB") != std::string::npos);
  }
  CHECK(exceeded == 8);
  // 32-true doubles the weights; 141 GiB GPUs hold bf16-true and not 32-true.
  auto full = preflight({"--model", "llama-2-70b", "--world-size", "8", "--precision", "32-true", "--device-memory", "141GiB"});
  CHECK(full.exit_code == 1);
  CHECK(full.report["memory"][0]["gradient_bytes"] == int64_t{16'384'000} * 4);
  auto fits = preflight({"--model", "llama-2-70b", "--world-size", "8", "--device-memory", "141GiB"});
  CHECK(fits.exit_code == 0);
  CHECK(fits.report["preflight"]["precision"] == "bf16-true");
}

TEST_CASE("preflight --strategy shard: llama-2-70b with LoRA on 8 ranks, figure by figure as docs/TRAINING.md works it out",
          "[preflight][memory][shard]") {
  auto run = preflight({"--model", "llama-2-70b", "--world-size", "8", "--strategy", "shard", "--device", "cuda",
                        "--micro-batch", "1", "--seq-len", "2048", "--device-memory", "80GiB"});
  CHECK(run.exit_code == 0);
  CHECK(run.report["preflight"]["strategy"] == "shard");
  REQUIRE(run.report["memory"].size() == 8);
  REQUIRE(run.report["shards"].size() == 8);
  for (int rank = 0; rank < 8; ++rank) {
    INFO("rank " << rank);
    const auto& shard = run.report["shards"][rank];
    // 563 frozen tensors, every size a multiple of 8: no padding, one eighth each.
    CHECK(shard["tensors"] == 563);
    CHECK(shard["elements"] == int64_t{8'622'081'024});
    CHECK(shard["bytes"] == int64_t{17'244'162'048});
    CHECK(shard["empty"].empty());
    const auto& row = run.report["memory"][rank];
    // Its shard, the LoRA weights (16,384,000 elements) and the buffers, at 2 bytes (int64 and
    // bool buffers at their own size): 2 x 4096 x 128 rotary, 4096 x 4096 mask, 80 x 9216 lora_ind.
    CHECK(row["weight_bytes"] == int64_t{17'244'162'048} + 32'768'000 + (2'097'152 + 16'777'216 + 5'898'240));
    CHECK(row["gathered_bytes"] == int64_t{1'711'308'800});  // one block: 855,654,400 elements
    CHECK(row["gradient_bytes"] == int64_t{32'768'000});
    CHECK(row["optimizer_bytes"] == int64_t{65'536'000});
    CHECK(row["activation_bytes"] == int64_t{3'411'017'728});  // 1,705,508,864 elements
    CHECK(row["total_bytes"] == int64_t{22'522'333'184});
  }
  CHECK(count_code(run.report, "empty-shard") == 0);
  // 20 GiB devices are too small by 999.0 MiB on every rank.
  auto tight = preflight({"--model", "llama-2-70b", "--world-size", "8", "--strategy", "shard", "--micro-batch", "1",
                          "--seq-len", "2048", "--device-memory", "20GiB"});
  CHECK(tight.exit_code == 1);
  CHECK(count_code(tight.report, "device-memory-exceeded") == 8);
  for (const auto& f : tight.report["findings"]) {
    if (f["code"] != "device-memory-exceeded") continue;
    CHECK(f["message"].get<std::string>().find("999.0 MiB more than the 20.0 GiB") != std::string::npos);
    CHECK(f["message"].get<std::string>().find("1.6 GiB gathered for the largest block") != std::string::npos);
  }
}

TEST_CASE("preflight --strategy shard lists empty shards: micro's 64-element norms over 48 ranks", "[preflight][shard]") {
  // 64 elements in slices of 2 (ceil(64 / 48)): ranks 0-31 hold them, ranks 32-47 only padding.
  auto run = preflight({"--world-size", "48", "--strategy", "shard"});
  CHECK(run.exit_code == 0);
  REQUIRE(run.report["shards"].size() == 48);
  CHECK(run.report["shards"][31]["empty"].empty());
  CHECK(run.report["shards"][32]["empty"] ==
        json::array({"transformer.h.0.norm_1.weight", "transformer.h.0.norm_2.weight", "transformer.h.1.norm_1.weight",
                     "transformer.h.1.norm_2.weight", "transformer.ln_f.weight"}));
  CHECK(count_code(run.report, "empty-shard") == 16 * 5);
  for (const auto& f : run.report["findings"]) {
    if (f["code"] != "empty-shard") continue;
    CHECK(f["severity"] == "warning");
    CHECK(f["rank"].get<int>() >= 32);
  }
  // Every frozen element is on exactly one rank.
  int64_t elements = 0;
  for (const auto& row : run.report["shards"]) elements += row["elements"].get<int64_t>();
  CHECK(elements == run.report["parameters"]["frozen_numel"].get<int64_t>());
  // Replicate has neither shards nor empty-shard findings.
  auto replicate = preflight({"--world-size", "48"});
  CHECK_FALSE(replicate.report.contains("shards"));
  CHECK(count_code(replicate.report, "empty-shard") == 0);
}
