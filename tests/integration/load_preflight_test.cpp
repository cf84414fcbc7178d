// `metaguard preflight --checkpoint FILE` as a user runs it: a matching checkpoint is clean,
// partial-checkpoint is caught as missing-key at load on rank 0 and meta-parameter on every
// rank, --repair clears it, a mismatched model shows every load finding, and a bad file is
// one error line with exit 2. The checkpoint is PyTorch's own (fixtures/checkpoints/models).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <set>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "integration/preflight_process.hpp"
#include "support/run_process.hpp"
#include "unit/base/checkpoint_test_support.hpp"

using metaguard::test::metaguard_exe;
using metaguard::test::run_process;
using nlohmann::json;
namespace test = metaguard::test;

namespace {

const std::string kMicro = test::source_path("fixtures/checkpoints/models/micro.pt");

using Run = metaguard::test::PreflightRun;
using metaguard::test::preflight;

// (tensor, rank, phase) of every unrepaired finding with this code.
std::set<std::tuple<std::string, int, std::string>> found(const json& report, const std::string& code,
                                                          bool repaired = false) {
  std::set<std::tuple<std::string, int, std::string>> out;
  for (const auto& f : report["findings"]) {
    if (f["code"] != code || f["repaired"] != repaired) continue;
    out.emplace(f["tensor"].get<std::string>(), f["rank"].get<int>(), f["phase"].get<std::string>());
  }
  return out;
}

// The base weights of transformer block 1 of micro under the default LoRA (query+value):
// what partial-checkpoint hides. Seven per block (LLaMA MLP, RMSNorm, no biases).
const std::vector<std::string> kBlock1 = {
    "transformer.h.1.norm_1.weight",           "transformer.h.1.attn.attn.linear.weight",
    "transformer.h.1.attn.proj.linear.weight", "transformer.h.1.norm_2.weight",
    "transformer.h.1.mlp.fc_1.linear.weight",  "transformer.h.1.mlp.fc_2.linear.weight",
    "transformer.h.1.mlp.proj.linear.weight"};

const json* tensor_of(const json& report, const std::string& name, int rank) {
  for (const auto& t : report["tensors"]) {
    if (t["name"] == name && t["rank"] == rank) return &t;
  }
  return nullptr;
}

bool has_event(const json& tensor, const std::string& phase, const std::string& event) {
  for (const auto& e : tensor["provenance"]) {
    if (e["phase"] == phase && e["event"] == event) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("load preflight: a matching checkpoint is clean on every rank", "[preflight][load]") {
  auto run = preflight({"--checkpoint", kMicro, "--world-size", "2"});
  CHECK(run.exit_code == 0);
  CHECK(run.report["summary"]["errors"] == 0);
  CHECK(run.report["findings"].empty());  // LoRA adapters are initialized, base keys all mapped
  CHECK(run.report["preflight"]["checkpoint"] == kMicro);
  auto phases = run.report["preflight"]["phases"].get<std::vector<std::string>>();
  CHECK(std::find(phases.begin(), phases.end(), "load") != phases.end());
  CHECK(run.report["load"]["entries"] == 17);
  CHECK(run.report["load"]["loaded_on_rank0"] == 17);  // every base weight, under its LoRA name
  // Rank 0 loaded the base weight; rank 1 received it; the adapter was initialized.
  const json* loaded = tensor_of(run.report, "transformer.h.0.attn.attn.linear.weight", 0);
  REQUIRE(loaded);
  CHECK(has_event(*loaded, "load", "loaded"));
  const json* received = tensor_of(run.report, "transformer.h.0.attn.attn.linear.weight", 1);
  REQUIRE(received);
  CHECK(has_event(*received, "broadcast", "received"));
  const json* adapter = tensor_of(run.report, "transformer.h.0.attn.attn.lora_A", 0);
  REQUIRE(adapter);
  CHECK(has_event(*adapter, "init", "initialized"));
  CHECK_FALSE(has_event(*adapter, "load", "loaded"));
}

TEST_CASE("load preflight: a plain GPT loads the same checkpoint key for key", "[preflight][load]") {
  auto run = preflight({"--checkpoint", kMicro, "--lora", "none", "--world-size", "3"});
  CHECK(run.exit_code == 0);
  CHECK(run.report["findings"].empty());
  CHECK(run.report["load"]["loaded_on_rank0"] == 17);
}

TEST_CASE("load preflight: partial-checkpoint is caught as missing-key at load, then meta-parameter on every rank",
          "[preflight][load][fault]") {
  auto run = preflight({"--checkpoint", kMicro, "--inject", "partial-checkpoint", "--world-size", "2"});
  CHECK(run.exit_code == 1);
  std::set<std::tuple<std::string, int, std::string>> missing, meta;
  for (const auto& name : kBlock1) {
    missing.emplace(name, 0, "load");
    meta.emplace(name, 0, "load");       // rank 0 must hold them once it has loaded
    meta.emplace(name, 1, "broadcast");  // rank 0 had nothing to send
  }
  CHECK(found(run.report, "missing-key") == missing);
  CHECK(found(run.report, "meta-parameter") == meta);
  CHECK(run.report["summary"]["errors"] == 3 * kBlock1.size());
  for (const auto& f : run.report["findings"]) {
    if (f["code"] != "missing-key") continue;
    CHECK(f["message"].get<std::string>().find("micro.pt") != std::string::npos);
    CHECK(f["message"].get<std::string>().find("stays on meta") != std::string::npos);
  }
  // The ledger says why: not loaded at load.
  const json* tensor = tensor_of(run.report, kBlock1[1], 0);
  REQUIRE(tensor);
  CHECK(has_event(*tensor, "load", "not-loaded"));
}

TEST_CASE("load preflight: --repair fills what the checkpoint lacked from init recipes", "[preflight][load][fault]") {
  auto run = preflight({"--checkpoint", kMicro, "--inject", "partial-checkpoint", "--repair"});
  CHECK(run.exit_code == 0);
  CHECK(run.report["summary"]["errors"] == 0);
  CHECK(found(run.report, "missing-key", /*repaired=*/true).size() == kBlock1.size());
  CHECK(found(run.report, "missing-key").empty());
}

TEST_CASE("load preflight: a checkpoint of another model shows every load finding", "[preflight][load]") {
  // pythia-14m: other widths (shape-mismatch), LayerNorm biases and a GELU MLP (missing),
  // and micro's SwiGLU weights it has no place for (unexpected).
  auto run = preflight({"--model", "pythia-14m", "--lora", "none", "--world-size", "1", "--checkpoint", kMicro});
  CHECK(run.exit_code == 1);
  std::set<std::string> codes;
  for (const auto& f : run.report["findings"]) {
    codes.insert(f["code"].get<std::string>());
    if (f["code"] == "unexpected-key" || f["code"] == "missing-key" || f["code"] == "shape-mismatch") {
      CHECK(f["phase"] == "load");
      CHECK(f["rank"] == 0);
    }
  }
  CHECK(codes.count("shape-mismatch") == 1);
  CHECK(codes.count("missing-key") == 1);
  CHECK(codes.count("unexpected-key") == 1);
  CHECK(found(run.report, "unexpected-key").count({"transformer.h.0.mlp.fc_1.weight", 0, "load"}) == 1);
  CHECK(found(run.report, "missing-key").count({"transformer.h.0.norm_1.bias", 0, "load"}) == 1);
  CHECK(found(run.report, "shape-mismatch").count({"transformer.wte.weight", 0, "load"}) == 1);
}

TEST_CASE("load preflight: bad checkpoints and flags are one error line, exit 2", "[preflight][load]") {
  test::TempDir dir;
  SECTION("missing file") {
    auto run = run_process({metaguard_exe(), "preflight", "--checkpoint", dir.file("missing.pt")});
    CHECK(run.exit_code == 2);
    CHECK(run.err.rfind("metaguard: error: ", 0) == 0);
    CHECK(run.err.find("missing.pt") != std::string::npos);
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
    CHECK(run.out.empty());
  }
  SECTION("not a checkpoint") {
    const std::string path = dir.file("notes.pt");
    test::write_binary(path, "these are not tensors\n");
    auto run = run_process({metaguard_exe(), "preflight", "--checkpoint", path});
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("notes.pt") != std::string::npos);
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  }
  SECTION("partial-checkpoint without a checkpoint") {
    auto run = run_process({metaguard_exe(), "preflight", "--inject", "partial-checkpoint"});
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("--checkpoint") != std::string::npos);
  }
}

TEST_CASE("load preflight: the 07 scenarios pass under regress", "[preflight][load][regress]") {
  // regress resolves {fixtures} to the folder beside the scenarios' own: lay out a copy.
  test::TempDir dir;
  const std::string scenarios = dir.file("scenarios");
  const std::string checkpoints = dir.file("checkpoints");
  const std::string models = checkpoints + "/models";
  REQUIRE(::mkdir(scenarios.c_str(), 0755) == 0);
  REQUIRE(::mkdir(checkpoints.c_str(), 0755) == 0);
  REQUIRE(::mkdir(models.c_str(), 0755) == 0);
  const std::vector<std::string> names = {"07-partial-checkpoint.json", "07-partial-checkpoint-clean.json",
                                          "07-partial-checkpoint-repair.json"};
  for (const auto& name : names) {
    test::write_binary(scenarios + "/" + name, test::read_binary(test::source_path("fixtures/scenarios/" + name)));
  }
  test::write_binary(models + "/micro.pt", test::read_binary(kMicro));
  auto run = run_process({metaguard_exe(), "regress", scenarios}, 300);
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  CHECK(run.out.find("3 passed, 0 failed") != std::string::npos);
  // TempDir removes files only at its top level.
  for (const auto& name : names) ::unlink((scenarios + "/" + name).c_str());
  ::unlink((models + "/micro.pt").c_str());
  ::rmdir(models.c_str());
  ::rmdir(checkpoints.c_str());
  ::rmdir(scenarios.c_str());
}
