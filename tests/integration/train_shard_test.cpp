// `metaguard train --strategy shard` end to end, against `--strategy replicate` as the
// reference: the same seed gives the same losses on 1, 2 and 3 ranks (3 makes uneven
// slices, and on the nano model empty ones); every rank reads only its slices of a
// checkpoint; what a sharded run saves is a whole model that PyTorch's torch.load reads
// and that equals the replicated run's; a sharded run resumes as a replicated one does.
#include <filesystem>
#include <fstream>
#include <regex>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "integration/train_process.hpp"
#include "support/paths.hpp"

namespace test = metaguard::test;
using nlohmann::json;

namespace {

// The micro model, 32-token sequences, 6 per step (every rank a share on 1, 2 and 3 ranks).
std::vector<std::string> shard_args(const std::string& strategy, int ranks, std::vector<std::string> more = {},
                                    int steps = 8) {
  std::vector<std::string> args{"--seq-len", "32", "--global-batch", "6", "--eval-every", "4", "--format", "json",
                                "--steps", std::to_string(steps), "--lr", "1e-2", "--nproc", std::to_string(ranks),
                                "--strategy", strategy, "--timeout", "60"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

test::TrainRun run_ok(const std::vector<std::string>& args) {
  test::TrainRun run = test::train(args);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.report.is_object());
  return run;
}

void check_same_losses(const json& a, const json& b) {
  std::vector<double> x = test::losses(a), y = test::losses(b);
  REQUIRE(x.size() == y.size());
  REQUIRE_FALSE(x.empty());
  for (size_t i = 0; i < x.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(x[i] - y[i]) < 1e-5);
  }
  const json& va = a["training"]["val_losses"];
  const json& vb = b["training"]["val_losses"];
  REQUIRE(va.size() == vb.size());
  for (size_t i = 0; i < va.size(); ++i) CHECK(std::abs(va[i]["loss"].get<double>() - vb[i]["loss"].get<double>()) < 1e-5);
}

// Megabytes read by rank, from the ranks' log lines: "rank 1: loaded 17 tensors (0.1 MB)
// from ..." (--checkpoint) or "[rank 1] resumed 17 tensors (0.1 MB) from ..." (--resume).
std::map<int, double> megabytes_by_rank(const std::string& log, const std::string& pattern) {
  std::map<int, double> out;
  const std::regex line(pattern);
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator(); ++it) {
    out[std::stoi((*it)[1])] = std::stod((*it)[2]);
  }
  return out;
}
const char* const kLoaded = R"(rank (\d+): loaded \d+ tensors \(([0-9.]+) MB\))";
const char* const kResumed = R"(\[rank (\d+)\] resumed \d+ tensors \(([0-9.]+) MB\))";

// A copy of the torch.save file `from` at `to` with one bit flipped in the middle of the
// record that holds `tensor`; returns the record's name.
std::string corrupt_copy(const std::string& from, const std::string& to, const std::string& tensor) {
  const metaguard::CheckpointFile file = metaguard::CheckpointFile::open(from);
  for (const auto& entry : file.tensors()) {
    if (entry.name != tensor) continue;
    const metaguard::CheckpointStorage& storage = file.storages().at(*entry.storage);
    std::string bytes = test::slurp(from);
    bytes.at(*storage.file_offset + storage.stored_size / 2) ^= 0x04;
    std::ofstream(to, std::ios::binary) << bytes;
    return storage.record;
  }
  FAIL("no tensor " << tensor << " in " << from);
  return "";
}

// Every rank of a failed run names the record whose combined CRC-32 failed.
void check_every_rank_refuses(const test::TrainRun& run, int ranks, const std::string& file, const std::string& record) {
  INFO(run.err);
  CHECK(run.exit_code == 2);
  for (int r = 0; r < ranks; ++r) {
    CAPTURE(r);
    CHECK(run.err.find(fmt::format("rank {} stopped at load: '{}': storage record '{}' fails its CRC-32 check (the file is "
                                   "corrupt; its {} ranks' parts combined)",
                                   r, file, record, ranks)) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("train: shard and replicate give the same losses on 1, 2 and 3 ranks", "[train][shard]") {
  for (int ranks : {1, 2, 3}) {
    CAPTURE(ranks);
    test::TrainRun replicate = run_ok(shard_args("replicate", ranks));
    test::TrainRun shard = run_ok(shard_args("shard", ranks));
    CHECK(replicate.report["training"]["strategy"] == "replicate");
    CHECK(shard.report["training"]["strategy"] == "shard");
    check_same_losses(replicate.report, shard.report);
    // The frozen weights' hash: rank 0's whole copies under replicate, every rank's slices
    // combined under shard; the same weights, the same hash.
    const json& hash = shard.report["training"]["frozen_weights_hash"];
    REQUIRE(hash.is_string());
    CHECK(hash == replicate.report["training"]["frozen_weights_hash"]);
    // The run did learn: equal but trivial runs would prove nothing.
    std::vector<double> losses = test::losses(shard.report);
    CHECK(losses.back() < losses.front());
    // Every rank lists its slices; together they cover every frozen element once.
    const json& shards = shard.report["shards"];
    REQUIRE(shards.size() == static_cast<size_t>(ranks));
    int64_t elements = 0;
    for (const auto& row : shards) elements += row["elements"].get<int64_t>();
    int64_t frozen = 0;  // from the replicated run's own inventory (rank 0's whole tensors)
    for (const auto& tensor : replicate.report["tensors"]) {
      if (tensor["kind"] == "parameter" && !std::regex_search(tensor["name"].get<std::string>(), std::regex("lora_"))) {
        int64_t numel = 1;
        for (const auto& d : tensor["shape"]) numel *= d.get<int64_t>();
        if (tensor["rank"] == 0) frozen += numel;
      }
    }
    CHECK(elements == frozen);
    if (ranks > 1) CHECK(shard.report["training"]["gather_seconds"].get<double>() > 0);
  }
}

TEST_CASE("train: the frozen weights' hash follows the weights, not the strategy", "[train][shard]") {
  test::TrainRun a = run_ok(shard_args("shard", 2, {}, 1));
  test::TrainRun b = run_ok(shard_args("shard", 3, {}, 1));
  test::TrainRun seeded = run_ok(shard_args("shard", 2, {"--seed", "7"}, 1));
  REQUIRE(a.report["training"]["frozen_weights_hash"].is_string());
  CHECK(a.report["training"]["frozen_weights_hash"] == b.report["training"]["frozen_weights_hash"]);  // other cuts
  // Another seed initializes the base weights otherwise: another hash.
  CHECK(seeded.report["training"]["frozen_weights_hash"] != a.report["training"]["frozen_weights_hash"]);
}

TEST_CASE("train: 3 ranks over the nano model hold empty slices, warn of them and still match replicate",
          "[train][shard]") {
  test::TrainRun replicate = run_ok(shard_args("replicate", 3, {"--model", "nano"}));
  test::TrainRun shard = run_ok(shard_args("shard", 3, {"--model", "nano"}));
  check_same_losses(replicate.report, shard.report);
  // nano's norms hold 4 elements: slices of 2, 2 and none.
  const json& shards = shard.report["shards"];
  REQUIRE(shards.size() == 3);
  CHECK(shards[0]["empty"].empty());
  CHECK(shards[1]["empty"].empty());
  CHECK(shards[2]["empty"].size() == 5);  // norm_1, norm_2 of two blocks, ln_f
  int warnings = 0;
  for (const auto& finding : shard.report["findings"]) {
    if (finding["code"] != "empty-shard") continue;
    ++warnings;
    CHECK(finding["rank"] == 2);
    CHECK(finding["severity"] == "warning");
  }
  CHECK(warnings == 5);
}

TEST_CASE("train: under shard every rank reads only its own slices of --checkpoint", "[train][shard][load]") {
  const std::string base = test::source_path("fixtures/checkpoints/models/micro.pt");
  test::TrainRun replicate = run_ok(shard_args("replicate", 3, {"--checkpoint", base}, 4));
  test::TrainRun shard = run_ok(shard_args("shard", 3, {"--checkpoint", base}, 4));
  check_same_losses(replicate.report, shard.report);
  CHECK(shard.report["training"]["frozen_weights_hash"] == replicate.report["training"]["frozen_weights_hash"]);
  const auto whole = megabytes_by_rank(replicate.err, kLoaded);
  const auto parts = megabytes_by_rank(shard.err, kLoaded);
  REQUIRE(whole.size() == 1);  // replicate: rank 0 reads, the others receive
  REQUIRE(parts.size() == 3);
  double sum = 0;
  for (const auto& [rank, mb] : parts) {
    CAPTURE(rank);
    CHECK(mb < whole.at(0) / 2);  // a third of the file, give or take rounding to 0.1 MB
    sum += mb;
  }
  CHECK(std::abs(sum - whole.at(0)) <= 0.15);
}

TEST_CASE("train: without activation checkpointing a sharded run keeps its graph and gives the same losses",
          "[train][shard]") {
  // Dropout in the adapters and the MLP adapted too: the kept graph must be the forward's.
  const std::vector<std::string> lora{"--lora", "r=8,alpha=16,dropout=0.1,targets=query+value+mlp"};
  std::vector<std::string> off = lora;
  off.insert(off.end(), {"--activation-checkpointing", "off"});
  test::TrainRun replicate = run_ok(shard_args("replicate", 3, lora));
  test::TrainRun checkpointed = run_ok(shard_args("shard", 3, lora));
  test::TrainRun kept = run_ok(shard_args("shard", 3, off));
  check_same_losses(replicate.report, kept.report);
  check_same_losses(replicate.report, checkpointed.report);
  CHECK(checkpointed.report["training"]["activation_checkpointing"] == true);
  CHECK(kept.report["training"]["activation_checkpointing"] == false);
  CHECK(replicate.report["training"]["activation_checkpointing"] == false);
}

TEST_CASE("train: a sharded run saves and exports a whole model that torch.load reads, equal to replicate's",
          "[train][shard][save]") {
  test::RunDir a, b;
  run_ok(shard_args("replicate", 3, {"--save-full", "--out", a.path()}, 4));
  run_ok(shard_args("shard", 3, {"--save-full", "--out", b.path()}, 4));
  const json state = test::read_json(b.file("run.json"));
  const std::string weights = state["weights"].get<std::string>();
  // PyTorch itself reads both runs' files and compares every tensor.
  static const char* kCompare = R"PY(
import sys, torch
for name in sys.argv[3:]:
    x = torch.load(sys.argv[1] + "/" + name)
    y = torch.load(sys.argv[2] + "/" + name)
    assert x.keys() == y.keys(), name
    for key in x:
        assert x[key].shape == y[key].shape, (name, key)
        assert torch.equal(x[key], y[key]), (name, key)
    print(name, len(x))
)PY";
  auto run = test::run_process({test::python_executable(), "-c", kCompare, a.path(), b.path(), weights,
                                "final/lit_model.pth", "final/lit_model.pth.lora"});
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  CHECK(run.out.find("final/lit_model.pth 17") != std::string::npos);  // every base weight, whole
}

TEST_CASE("train: a sharded run resumes from its whole-model checkpoint as a replicated run does",
          "[train][shard][resume]") {
  test::RunDir a, b;
  run_ok(shard_args("replicate", 3, {"--save-full", "--out", a.path()}, 2));
  run_ok(shard_args("shard", 3, {"--save-full", "--out", b.path()}, 2));
  test::TrainRun replicate = run_ok(shard_args("replicate", 3, {"--save-full", "--resume", a.path(), "--out", a.path()}, 4));
  test::TrainRun shard = run_ok(shard_args("shard", 3, {"--save-full", "--resume", b.path(), "--out", b.path()}, 4));
  check_same_losses(replicate.report, shard.report);
  CHECK(test::losses(shard.report).size() == 4);
  // Replicate: rank 0 reads the file. Shard: every rank reads its third of the frozen
  // weights (rank 0 also the adapters and buffers), the whole file between them.
  const auto whole = megabytes_by_rank(replicate.err, kResumed);
  const auto parts = megabytes_by_rank(shard.err, kResumed);
  REQUIRE(whole.size() == 1);
  REQUIRE(parts.size() == 3);
  double sum = 0;
  for (const auto& [rank, mb] : parts) {
    CAPTURE(rank);
    CHECK(mb < (rank == 0 ? whole.at(0) * 0.6 : whole.at(0) / 2));
    sum += mb;
  }
  CHECK(std::abs(sum - whole.at(0)) <= 0.15);
}

TEST_CASE("train: under shard the ranks check a record's CRC-32 together, though each reads only its part",
          "[train][shard][load]") {
  test::RunDir dir;
  // --checkpoint: a flipped bit in the middle of the head's record, which rank 1 reads.
  const std::string bad = dir.file("micro-corrupt.pt");
  const std::string record = corrupt_copy(test::source_path("fixtures/checkpoints/models/micro.pt"), bad, "lm_head.weight");
  check_every_rank_refuses(test::train(shard_args("shard", 3, {"--checkpoint", bad}, 2)), 3, bad, record);

  // --resume: the same in the run's own whole-model checkpoint.
  run_ok(shard_args("shard", 2, {"--save-full", "--out", dir.path()}, 2));
  const std::string weights = dir.file(test::read_json(dir.file("run.json"))["weights"].get<std::string>());
  const std::string saved = corrupt_copy(weights, weights + ".corrupt", "transformer.wte.weight");
  std::filesystem::rename(weights + ".corrupt", weights);
  check_every_rank_refuses(test::train(shard_args("shard", 2, {"--resume", dir.path(), "--out", dir.path()}, 4)), 2,
                           weights, saved);
}

TEST_CASE("train: --strategy shard refuses what it cannot do, in one line", "[train][shard][input]") {
  auto refused = [](std::vector<std::string> args, const std::string& expect) {
    test::TrainRun run = test::train(args);
    INFO(run.err);
    CHECK(run.exit_code == 2);
    CHECK(run.err.find(expect) != std::string::npos);
  };
  refused({"--strategy", "zero3"}, "metaguard: error: --strategy 'zero3': expected replicate or shard");
  refused({"--strategy", "shard", "--lora", "none"}, "metaguard: error: --strategy shard: shards the frozen base weights");
  refused({"--activation-checkpointing", "on"}, "metaguard: error: --activation-checkpointing on: only --strategy shard recomputes activations");
  refused({"--strategy", "shard", "--activation-checkpointing", "sometimes"},
          "metaguard: error: --activation-checkpointing 'sometimes': expected on, off or auto");
  refused({"--inject", "empty-shard", "--nproc", "2"}, "metaguard: error: --inject empty-shard: reproduces a sharded run; add --strategy shard");
  refused({"--inject", "empty-shard", "--nproc", "2", "--strategy", "shard"},
          "metaguard: error: --inject empty-shard: no weight of model 'micro' has an empty slice on 2 ranks");
}
