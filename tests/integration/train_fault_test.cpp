// Every fault of CONTRACT.md injected into a real 2-rank run: with --on-meta fail the run
// stops at the first guard point where the fault exists, exit 1, naming tensor, rank,
// phase and cause; with --on-meta repair it repairs, verifies across ranks and ends with
// exactly the losses of the clean run. `metaguard explain` on the failed run's directory
// names the culprit.
#include <filesystem>
#include <regex>
#include <set>

#include <catch2/catch.hpp>

#include "integration/train_process.hpp"

namespace test = metaguard::test;
using nlohmann::json;

namespace {

struct Expected {
  std::string fault;
  std::string model;
  std::string code;
  std::string tensor;  // regex
  std::set<int> ranks;
  std::string phase;
};

std::vector<std::string> fault_args(const std::string& model) {
  auto args = test::fast_args();
  args.insert(args.end(), {"--nproc", "2", "--steps", "6", "--lr", "1e-2", "--model", model, "--timeout", "30"});
  return args;
}

// (rank, phase) of each finding with this code on a tensor matching the pattern.
std::set<std::pair<int, std::string>> where(const json& report, const std::string& code, const std::string& tensor) {
  std::set<std::pair<int, std::string>> found;
  for (const auto& f : report["findings"]) {
    if (f["code"] != code || f["tensor"].is_null() || f["severity"] != "error") continue;
    if (!std::regex_match(f["tensor"].get<std::string>(), std::regex(tensor))) continue;
    found.emplace(f["rank"].get<int>(), f["phase"].get<std::string>());
  }
  return found;
}

void check_caught(const Expected& e) {
  test::RunDir dir;
  auto args = fault_args(e.model);
  args.insert(args.end(), {"--inject", e.fault, "--on-meta", "fail", "--out", dir.path()});
  test::TrainRun run = test::train(args);
  INFO(e.fault << "\n" << run.err);
  REQUIRE_FALSE(run.timed_out);
  CHECK(run.exit_code == 1);
  REQUIRE(run.report.is_object());
  const json& stopped = run.report["training"]["stopped"];
  REQUIRE(stopped.is_object());
  CHECK(stopped["phase"] == e.phase);
  CHECK(stopped["rank"] == *e.ranks.begin());
  CHECK(run.report["training"]["losses"].empty());  // stopped before the first step
  std::set<std::pair<int, std::string>> expected;
  for (int rank : e.ranks) expected.emplace(rank, e.phase);
  CHECK(where(run.report, e.code, e.tensor) == expected);
  // Said on stderr too, by the rank that found it: tensor, code, rank, phase.
  std::smatch match;
  CHECK(std::regex_search(run.err, match,
                          std::regex("\\[rank " + std::to_string(*e.ranks.begin()) + "\\] .*stopped at " + e.phase +
                                     ".*(" + e.tensor + ") \\[" + e.code + "\\]")));
  // Each finding says why (the ledger's history), not only what.
  for (const auto& f : run.report["findings"]) {
    if (f["code"] == e.code) CHECK(f["message"].get<std::string>().size() > 40);
  }
  // Every rank wrote its report, naming its rank and the phase it stopped in.
  for (int rank : {0, 1}) {
    json report = test::read_json(dir.file("rank" + std::to_string(rank) + ".json"));
    REQUIRE(report.is_object());
    CHECK(report["rank"] == rank);
    CHECK(report["phase"] == e.phase);
    CHECK(report["error"].is_string());
  }
}

}  // namespace

TEST_CASE("train fault: lora-ind-meta stops at before-validation on every rank", "[train][fault]") {
  check_caught({"lora-ind-meta", "micro", "meta-nonpersistent-buffer", R"(transformer\.h\.[01]\.attn\.attn\.lora_ind)", {0, 1},
                "before-validation"});
}

TEST_CASE("train fault: rope-cache-meta stops at before-validation on every rank", "[train][fault]") {
  check_caught({"rope-cache-meta", "micro", "meta-nonpersistent-buffer", "cos|sin", {0, 1}, "before-validation"});
}

TEST_CASE("train fault: skip-broadcast stops at broadcast on rank 1", "[train][fault]") {
  check_caught({"skip-broadcast", "micro", "meta-parameter", R"(transformer\.wte\.weight|.*lora_[AB]|.*linear\.weight)", {1},
                "broadcast"});
}

TEST_CASE("train fault: untie-on-materialize stops at init on rank 0", "[train][fault]") {
  check_caught({"untie-on-materialize", "micro-tied", "tied-weights-broken", R"(lm_head\.linear\.weight)", {0}, "init"});
}

TEST_CASE("train fault: to-empty-no-init stops at broadcast on every rank", "[train][fault]") {
  check_caught({"to-empty-no-init", "micro", "uninitialized-storage", R"(transformer\.wte\.weight|.*weight|.*lora_[AB])", {0, 1},
                "broadcast"});
}

TEST_CASE("train fault: rank-seed-divergence is caught by the cross-rank hash comparison", "[train][fault]") {
  check_caught({"rank-seed-divergence", "micro", "rank-divergence", R"(transformer\.wte\.weight|.*weight|.*lora_A)", {1},
                "broadcast"});
}

TEST_CASE("train fault: --on-meta repair ends every repairable fault with the clean run's losses", "[train][fault][repair]") {
  for (const std::string model : {"micro", "micro-tied"}) {
    test::TrainRun clean = test::train(fault_args(model));
    INFO(model << "\n" << clean.err);
    REQUIRE(clean.exit_code == 0);
    std::vector<double> expected = test::losses(clean.report);
    REQUIRE(expected.size() == 6);
    std::vector<std::string> faults = model == "micro"
        ? std::vector<std::string>{"lora-ind-meta", "rope-cache-meta", "skip-broadcast", "to-empty-no-init", "rank-seed-divergence"}
        : std::vector<std::string>{"untie-on-materialize"};
    for (const auto& fault : faults) {
      auto args = fault_args(model);
      args.insert(args.end(), {"--inject", fault, "--on-meta", "repair"});
      test::TrainRun run = test::train(args);
      INFO(fault << "\n" << run.err);
      REQUIRE_FALSE(run.timed_out);
      CHECK(run.exit_code == 0);
      REQUIRE(run.report.is_object());
      CHECK(run.report["summary"]["errors"] == 0);
      CHECK(run.report["summary"]["repaired"].get<int>() > 0);
      CHECK(run.report["training"]["stopped"].is_null());
      std::vector<double> got = test::losses(run.report);
      REQUIRE(got.size() == expected.size());
      for (size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - expected[i]) < 1e-5);
    }
  }
}

TEST_CASE("train fault: --on-meta warn lets a meta buffer reach the forward, which fails on every rank", "[train][fault]") {
  auto args = fault_args("micro");
  args.insert(args.end(), {"--inject", "lora-ind-meta", "--on-meta", "warn"});
  test::TrainRun run = test::train(args);
  INFO(run.err);
  REQUIRE_FALSE(run.timed_out);
  CHECK(run.exit_code == 1);
  REQUIRE(run.report.is_object());
  // The warning came first, then PyTorch's own error at the first forward.
  CHECK(run.err.find("warning") != std::string::npos);
  CHECK(run.report["training"]["stopped"]["phase"] == "validation");
  CHECK(run.report["summary"]["errors"].get<int>() > 0);
}

TEST_CASE("train fault: explain on a failed run's directory names the culprit", "[train][fault][explain]") {
  test::RunDir dir;
  auto args = fault_args("micro");
  args.insert(args.end(), {"--inject", "lora-ind-meta", "--out", dir.path()});
  test::TrainRun run = test::train(args);
  INFO(run.err);
  REQUIRE(run.exit_code == 1);
  test::ProcessResult text = test::run_process({test::metaguard_exe(), "explain", dir.path()}, 60);
  INFO(text.out << text.err);
  CHECK(text.exit_code == 1);
  CHECK(text.out.find("stopped at before-validation") != std::string::npos);
  CHECK(text.out.find("lora_ind") != std::string::npos);
  CHECK(text.out.find("meta-nonpersistent-buffer") != std::string::npos);
  test::ProcessResult structured = test::run_process({test::metaguard_exe(), "explain", dir.path(), "--format", "json"}, 60);
  json story = json::parse(structured.out, nullptr, false);
  REQUIRE(story.is_object());
  REQUIRE_FALSE(story["problems"].empty());
  const json& problem = story["problems"][0];
  CHECK(problem["code"] == "meta-nonpersistent-buffer");
  CHECK(problem["ranks"] == json::array({0, 1}));
  CHECK(problem["tensors"] == 2);
  bool named = false;
  for (const auto& group : problem["groups"]) {
    for (const auto& tensor : group["tensors"]) named = named || tensor.get<std::string>().find("attn.attn.lora_ind") != std::string::npos;
    // The history says why: born on meta, never recomputed, on both ranks.
    for (const auto& history : group["histories"]) CHECK(history["history"].get<std::string>().find("never") != std::string::npos);
  }
  CHECK(named);
  CHECK(story["stopped"]["phase"] == "before-validation");
}

TEST_CASE("train fault: the training-side regression scenarios (09, 10) pass under metaguard regress", "[train][fault][regress]") {
  test::RunDir dir;
  for (const auto& entry : std::filesystem::directory_iterator(test::source_path("fixtures/scenarios"))) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("09-", 0) == 0 || name.rfind("10-", 0) == 0) std::filesystem::copy(entry.path(), dir.file(name));
  }
  test::ProcessResult run = test::run_process({test::metaguard_exe(), "regress", dir.path()}, 600);
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  CHECK(run.out.find("4 passed, 0 failed") != std::string::npos);
}

TEST_CASE("train fault: partial-checkpoint stops at load on rank 0 with the missing keys; repair fills and goes on", "[train][fault][load]") {
  const std::string base = test::source_path("fixtures/checkpoints/models/micro.pt");
  auto args = fault_args("micro");
  args.insert(args.end(), {"--checkpoint", base, "--inject", "partial-checkpoint"});
  test::TrainRun run = test::train(args);
  INFO(run.err);
  REQUIRE_FALSE(run.timed_out);
  CHECK(run.exit_code == 1);
  REQUIRE(run.report.is_object());
  CHECK(run.report["training"]["stopped"]["phase"] == "load");
  CHECK(run.report["training"]["stopped"]["rank"] == 0);
  CHECK(where(run.report, "missing-key", R"(transformer\.h\.1\..*)") == std::set<std::pair<int, std::string>>{{0, "load"}});
  CHECK(where(run.report, "meta-parameter", R"(transformer\.h\.1\..*)") == std::set<std::pair<int, std::string>>{{0, "load"}});
  CHECK(where(run.report, "meta-parameter", R"(transformer\.h\.0\..*)").empty());

  args.insert(args.end(), {"--on-meta", "repair"});
  test::TrainRun repaired = test::train(args);
  INFO(repaired.err);
  CHECK(repaired.exit_code == 0);
  CHECK(repaired.report["summary"]["errors"] == 0);
  CHECK(repaired.report["training"]["losses"].size() == 6);
}
