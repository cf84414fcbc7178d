// `metaguard train` end to end: real ranks over c10d/Gloo on this machine. A clean 2-rank
// run learns; 1 rank and 2 ranks compute the same optimization; the run directory holds
// what CONTRACT.md promises; a run started the way torchrun starts ranks works too.
#include <filesystem>
#include <future>
#include <regex>
#include <set>

#include <catch2/catch.hpp>

#include "checkpoint/checkpoint_reader.hpp"
#include "integration/train_process.hpp"

namespace test = metaguard::test;
using nlohmann::json;

namespace {

// LoRA on the MLP and head too, so 20 steps on the micro model visibly learn.
std::vector<std::string> learning_args() {
  auto args = test::fast_args();
  args.insert(args.end(), {"--steps", "20", "--lr", "1e-2", "--lora", "r=8,alpha=16,targets=query+value+mlp+head"});
  return args;
}

double mean(const std::vector<double>& values, size_t first, size_t count) {
  double sum = 0;
  for (size_t i = first; i < first + count; ++i) sum += values[i];
  return sum / static_cast<double>(count);
}

}  // namespace

TEST_CASE("train: a clean 2-rank run learns and leaves its reports and checkpoint", "[train]") {
  test::RunDir dir;
  auto args = learning_args();
  args.insert(args.end(), {"--nproc", "2", "--out", dir.path()});
  test::TrainRun run = test::train(args);
  INFO(run.err);
  REQUIRE_FALSE(run.timed_out);
  CHECK(run.exit_code == 0);
  REQUIRE(run.report.is_object());
  const json& training = run.report["training"];
  CHECK(training["world_size"] == 2);
  CHECK(training["stopped"].is_null());
  std::vector<double> losses = test::losses(run.report);
  REQUIRE(losses.size() == 20);
  // Initial loss near ln(256) (uniform over bytes); it must fall well below.
  CHECK(losses.front() > 5.0);
  CHECK(mean(losses, 15, 5) < mean(losses, 0, 5) - 1.0);
  CHECK(training["final_loss"].get<double>() == Approx(losses.back()));
  const json& val = training["val_losses"];
  REQUIRE(val.size() == 5);  // before step 1, then every 5 steps
  CHECK(val.front()["step"] == 0);
  CHECK(val.back()["step"] == 20);
  CHECK(val.back()["loss"].get<double>() < val.front()["loss"].get<double>() - 1.0);
  CHECK(training["tokens_per_s"].get<double>() > 0);
  CHECK(run.report["summary"]["errors"] == 0);

  // The run directory: report.json (= stdout's), one report per rank, the checkpoint.
  json saved = test::read_json(dir.file("report.json"));
  REQUIRE(saved.is_object());
  CHECK(saved["training"]["losses"] == training["losses"]);
  for (int rank : {0, 1}) {
    json report = test::read_json(dir.file("rank" + std::to_string(rank) + ".json"));
    REQUIRE(report.is_object());
    CHECK(report["rank"] == rank);
    CHECK(report["command"] == "train");
    CHECK(report["error"].is_null());
    // Provenance: rank 0 initialized its weights; rank 1 received them by broadcast.
    bool found = false;
    for (const auto& tensor : report["tensors"]) {
      if (tensor["name"] != "transformer.wte.weight") continue;
      found = true;
      CHECK(tensor["rank"] == rank);
      std::set<std::string> events;
      for (const auto& event : tensor["provenance"]) events.insert(event["event"].get<std::string>());
      CHECK(events.count(rank == 0 ? "initialized" : "received") == 1);
    }
    CHECK(found);
  }
  json state = test::read_json(dir.file("run.json"));
  REQUIRE(state.is_object());
  CHECK(state["step"] == 20);
  // The adapters only, each with data, readable by the torch-free reader.
  auto weights = metaguard::CheckpointFile::open(dir.file(state["weights"].get<std::string>()));
  REQUIRE_FALSE(weights.tensors().empty());
  for (const auto& entry : weights.tensors()) {
    CAPTURE(entry.name);
    CHECK(std::regex_match(entry.name, std::regex(R"(.*\.lora_[AB])")));
    CHECK_FALSE(entry.is_meta());
  }
}

TEST_CASE("train: 1 rank with global batch B and 2 ranks with B/2 each give the same losses", "[train]") {
  auto args = learning_args();
  test::TrainRun one = test::train(args);
  args.insert(args.end(), {"--nproc", "2"});
  test::TrainRun two = test::train(args);
  INFO(one.err << two.err);
  REQUIRE(one.exit_code == 0);
  REQUIRE(two.exit_code == 0);
  CHECK(one.report["training"]["world_size"] == 1);
  CHECK(two.report["training"]["world_size"] == 2);
  std::vector<double> a = test::losses(one.report), b = test::losses(two.report);
  REQUIRE(a.size() == 20);
  REQUIRE(b.size() == 20);
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(a[i] - b[i]) < 1e-5);
  }
  const json& va = one.report["training"]["val_losses"];
  const json& vb = two.report["training"]["val_losses"];
  REQUIRE(va.size() == vb.size());
  for (size_t i = 0; i < va.size(); ++i) CHECK(std::abs(va[i]["loss"].get<double>() - vb[i]["loss"].get<double>()) < 1e-5);
  // The steps did learn (equal but trivial runs would prove nothing).
  CHECK(a.back() < a.front() - 1.0);
}

TEST_CASE("train: ranks started as torchrun starts them (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)", "[train]") {
  test::RunDir dir;
  const int port = test::free_port();
  auto start_rank = [&](int rank) {
    std::vector<std::string> argv{test::metaguard_exe(), "train", "--steps", "3", "--out", dir.path()};
    for (const auto& arg : test::fast_args()) argv.push_back(arg);
    std::vector<std::string> env{"RANK=" + std::to_string(rank), "WORLD_SIZE=2", "LOCAL_RANK=" + std::to_string(rank),
                                 "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)};
    return test::run_process(argv, 120, env);
  };
  auto rank0 = std::async(std::launch::async, start_rank, 0);
  auto rank1 = std::async(std::launch::async, start_rank, 1);
  test::ProcessResult zero = rank0.get(), one = rank1.get();
  INFO(zero.err << one.err);
  CHECK(zero.exit_code == 0);
  CHECK(one.exit_code == 0);
  // Rank 0 prints the run's report; rank 1 prints nothing on stdout.
  json report = json::parse(zero.out, nullptr, false);
  REQUIRE(report.is_object());
  CHECK(report["training"]["world_size"] == 2);
  CHECK(report["training"]["losses"].size() == 3);
  CHECK(one.out.empty());
  CHECK(std::filesystem::exists(dir.file("rank1.json")));
}

TEST_CASE("train: base weights from a PyTorch-written checkpoint are loaded by rank 0 and reach every rank", "[train][load]") {
  test::RunDir dir;
  const std::string base = test::source_path("fixtures/checkpoints/models/micro.pt");
  auto args = test::fast_args();
  args.insert(args.end(), {"--nproc", "2", "--steps", "2", "--checkpoint", base, "--save-full", "--out", dir.path()});
  test::TrainRun run = test::train(args);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  CHECK(run.err.find("rank 0: loaded") != std::string::npos);
  // Provenance: loaded on rank 0, received on rank 1.
  for (int rank : {0, 1}) {
    json report = test::read_json(dir.file("rank" + std::to_string(rank) + ".json"));
    for (const auto& tensor : report["tensors"]) {
      if (tensor["name"] != "transformer.h.0.attn.attn.linear.weight") continue;
      std::set<std::string> events;
      for (const auto& event : tensor["provenance"]) events.insert(event["event"].get<std::string>());
      CHECK(events.count(rank == 0 ? "loaded" : "received") == 1);
    }
  }
  // The frozen base weights the run saved are the file's, byte for byte (a LoRA model maps
  // x.linear.weight to the file's x.weight).
  json state = test::read_json(dir.file("run.json"));
  CHECK(state["base_checkpoint"] == base);
  auto saved = metaguard::CheckpointFile::open(dir.file(state["weights"].get<std::string>()));
  auto original = metaguard::CheckpointFile::open(base);
  auto bytes_of = [](const metaguard::CheckpointFile& file, const std::string& key) {
    for (const auto& entry : file.tensors()) {
      if (entry.name != key) continue;
      auto stream = file.open_storage(*entry.storage);
      std::string bytes(static_cast<size_t>(file.storages()[*entry.storage].nbytes), '\0');
      size_t got = 0;
      while (got < bytes.size()) {
        size_t n = stream->read(bytes.data() + got, bytes.size() - got);
        if (n == 0) break;
        got += n;
      }
      return bytes;
    }
    return std::string();
  };
  for (const auto& [ours, theirs] : std::vector<std::pair<std::string, std::string>>{
           {"transformer.wte.weight", "transformer.wte.weight"},
           {"transformer.h.1.attn.attn.linear.weight", "transformer.h.1.attn.attn.weight"},
           {"transformer.ln_f.weight", "transformer.ln_f.weight"}}) {
    CAPTURE(ours);
    std::string a = bytes_of(saved, ours), b = bytes_of(original, theirs);
    CHECK_FALSE(a.empty());
    CHECK(a == b);
  }
}
