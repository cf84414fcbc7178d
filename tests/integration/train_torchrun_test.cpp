// `metaguard train` launched by PyTorch's own torchrun (`--no-python`), as a user of the
// wheel launches it: torchrun's elastic agent hosts the rendezvous store on MASTER_PORT and
// exports TORCHELASTIC_USE_AGENT_STORE=True, so every rank joins it as a client. The
// torchrun is the one beside the test Python (the wheel's in the PyTorch 2.x build,
// Debian's python3-torch beside Debian's LibTorch). CPU and Gloo: no GPU here.
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "integration/train_process.hpp"
#include "support/paths.hpp"

namespace {

using nlohmann::json;
namespace test = metaguard::test;
namespace fs = std::filesystem;

std::string torchrun_path() { return (fs::path(test::python_executable()).parent_path() / "torchrun").string(); }

struct TorchrunRun {
  test::ProcessResult process;
  json report;  // rank 0's run report on stdout (--format json); null when none
};

TorchrunRun torchrun(const std::string& out, const std::vector<std::string>& train_args) {
  std::vector<std::string> argv{torchrun_path(), "--no-python", "--nnodes", "1", "--nproc-per-node", "2",
                                "--max-restarts", "0", "--master-addr", "127.0.0.1",
                                "--master-port", std::to_string(test::free_port()),
                                test::metaguard_exe(), "train", "--device", "cpu", "--backend", "gloo",
                                "--steps", "3", "--out", out};
  for (const auto& arg : test::fast_args()) argv.push_back(arg);
  argv.insert(argv.end(), train_args.begin(), train_args.end());
  TorchrunRun run;
  run.process = test::run_process(argv, 300);
  run.report = json::parse(run.process.out, nullptr, false);
  if (run.report.is_discarded()) run.report = nullptr;
  return run;
}

// Debian 12's torchrun (PyTorch 1.13 on Python 3.11) crashes before it starts a worker
// (docs/TRAINING.md): only a PyTorch 2.x torchrun is used.
bool have_torchrun() {
  if (!fs::exists(torchrun_path())) {
    WARN("skipped: no torchrun beside " << test::python_executable() << " (scripts/setup-venv.sh installs the wheel's)");
    return false;
  }
  auto version = test::run_process({test::python_executable(), "-c", "import torch; print(torch.__version__)"}, 120);
  if (version.exit_code != 0 || version.out.empty() || version.out[0] < '2' || version.out[1] != '.') {
    WARN("skipped: the torchrun beside " << test::python_executable() << " is PyTorch " << version.out
                                         << ", whose elastic agent crashes on Python 3.11; the PyTorch 2.x build runs this");
    return false;
  }
  return true;
}

}  // namespace

TEST_CASE("torchrun: two ranks joining the agent's store train exactly as metaguard's own launcher", "[train][torchrun]") {
  if (!have_torchrun()) return;
  test::RunDir dir;
  TorchrunRun run = torchrun(dir.path(), {});
  INFO(run.process.err);
  REQUIRE(run.process.exit_code == 0);
  REQUIRE(run.report.is_object());
  CHECK(run.report["training"]["world_size"] == 2);
  CHECK(run.report["training"]["backend"] == "gloo");
  CHECK(run.report["training"]["device"] == "cpu");
  CHECK(run.report["summary"]["errors"] == 0);
  // Rank 0 did not host a store of its own: the agent's served both ranks (a rank 0 that
  // tried to bind MASTER_PORT would have failed with EADDRINUSE), and the ranks agree with
  // a run of metaguard's launcher, step for step.
  test::RunDir own_dir;
  test::TrainRun own = test::train({"--nproc", "2", "--device", "cpu", "--steps", "3", "--out", own_dir.path(), "--seq-len", "32",
                                    "--global-batch", "4", "--eval-every", "5", "--format", "json"});
  INFO(own.err);
  REQUIRE(own.exit_code == 0);
  const auto theirs = test::losses(run.report), ours = test::losses(own.report);
  REQUIRE(theirs.size() == 3);
  CHECK(theirs == ours);
}

TEST_CASE("torchrun: an injected lora-ind-meta stops both ranks at before-validation with the finding", "[train][torchrun][fault]") {
  if (!have_torchrun()) return;
  test::RunDir dir;
  TorchrunRun run = torchrun(dir.path(), {"--inject", "lora-ind-meta"});
  INFO(run.process.err);
  CHECK(run.process.exit_code != 0);  // torchrun says a worker failed
  json report = test::read_json(dir.file("report.json"));
  REQUIRE(report.is_object());
  REQUIRE(report["training"]["stopped"].is_object());
  CHECK(report["training"]["stopped"]["phase"] == "before-validation");
  std::set<int> ranks;
  for (const auto& finding : report["findings"]) {
    if (finding["code"] == "meta-nonpersistent-buffer" && finding["phase"] == "before-validation" &&
        finding["tensor"].get<std::string>().find("lora_ind") != std::string::npos) {
      ranks.insert(finding["rank"].get<int>());
    }
  }
  CHECK(ranks == std::set<int>{0, 1});
  for (int rank : {0, 1}) {
    json own = test::read_json(dir.file("rank" + std::to_string(rank) + ".json"));
    REQUIRE(own.is_object());
    CHECK(own["phase"] == "before-validation");
  }
}
