// `metaguard explain` and `metaguard diff` as a user runs them, on hand-written report files
// shaped like those `metaguard train --out DIR` writes (CONTRACT.md).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "integration/explain_process.hpp"
#include "support/paths.hpp"

using metaguard::test::build_path;
using metaguard::test::run_process;
using metaguard::test::TempDir;

namespace {

std::string metaguard_exe() { return build_path("metaguard"); }

// One tensor as CONTRACT.md's schema spells it.
std::string tensor_json(const std::string& name, const std::string& kind, const std::string& device,
                        const std::string& provenance, const std::string& storage = "null") {
  return R"({"name": ")" + name + R"(", "kind": ")" + kind + R"(", "dtype": "float32", "shape": [64], "device": ")" +
         device + R"(", "numel": 64, "nbytes": 256, "storage": )" + storage +
         R"(, "storage_offset": 0, "contiguous": true, "requires_grad": false, "provenance": [)" + provenance + "]}";
}

const char* kCreatedMeta = R"({"phase": "init", "event": "created", "device": "meta"})";
const char* kLoaded =
    R"({"phase": "init", "event": "created", "device": "meta"}, {"phase": "materialize", "event": "materialized-empty", "device": "cpu"}, {"phase": "load", "event": "loaded", "device": "cpu"})";
const char* kReceived =
    R"({"phase": "init", "event": "created", "device": "meta"}, {"phase": "materialize", "event": "materialized-empty", "device": "cpu"}, {"phase": "broadcast", "event": "received", "device": "cpu"})";

std::string lora_finding(int layer, int rank) {
  return R"({"code": "meta-nonpersistent-buffer", "severity": "error", "tensor": "transformer.h.)" +
         std::to_string(layer) + R"(.attn.attn.lora_ind", "rank": )" + std::to_string(rank) +
         R"(, "phase": "before-validation", "message": "a non-persistent buffer is still on meta", "hint": "recompute it", "repaired": false})";
}

std::string rank_report(int rank) {
  std::string tensors =
      tensor_json("transformer.wte.weight", "parameter", "cpu", rank == 0 ? kLoaded : kReceived, "\"s1\"") + ", " +
      tensor_json("transformer.h.0.attn.attn.lora_ind", "nonpersistent_buffer", "meta", kCreatedMeta) + ", " +
      tensor_json("transformer.h.1.attn.attn.lora_ind", "nonpersistent_buffer", "meta", kCreatedMeta);
  return R"({"schema": "metaguard.report/1", "command": "train", "source": "micro", "rank": )" + std::to_string(rank) +
         R"(, "tensors": [)" + tensors + R"(], "findings": [)" + lora_finding(0, rank) + ", " + lora_finding(1, rank) +
         R"(], "summary": {"tensors": 3, "meta": 2, "errors": 2, "warnings": 0, "repaired": 0, "allowed": 0, "bytes_by_device": {}}})";
}

std::string run_report() {
  return R"({"schema": "metaguard.report/1", "command": "train", "source": "micro", "tensors": [],
    "findings": [)" + lora_finding(0, 0) + ", " + lora_finding(1, 0) + ", " + lora_finding(0, 1) + ", " + lora_finding(1, 1) + R"(],
    "summary": {"tensors": 0, "meta": 0, "errors": 4, "warnings": 0, "repaired": 0, "allowed": 0, "bytes_by_device": {}},
    "training": {"world_size": 2, "steps": 30, "global_batch": 8, "seq_len": 64, "losses": [5.6, 5.5],
                 "val_losses": [{"step": 0, "loss": 5.63}], "final_loss": null, "tokens_per_s": 2100.0,
                 "stopped": {"phase": "before-validation", "rank": 0, "reason": "2 tensors on meta"}}})";
}

void write_failed_run(const TempDir& dir) {
  dir.write("report.json", run_report());
  dir.write("rank0.json", rank_report(0));
  dir.write("rank1.json", rank_report(1));
}

const char* kCleanReport = R"({"schema": "metaguard.report/1", "command": "preflight", "source": "micro",
  "tensors": [], "findings": [], "summary": {}})";

}  // namespace

TEST_CASE("explain cli: tells the story of a failed two-rank run", "[explain][cli]") {
  TempDir dir;
  write_failed_run(dir);
  auto result = run_process({metaguard_exe(), "explain", dir.path()});
  INFO(result.out << result.err);
  CHECK(result.exit_code == 1);  // an error finding remains (CONTRACT.md)
  CHECK(result.err.empty());
  CHECK(result.out.find("The run stopped at before-validation on rank 0: 2 tensors on meta.") != std::string::npos);
  CHECK(result.out.find("1. meta-nonpersistent-buffer (error): 4 findings on 2 tensors, ranks 0 and 1, seen at "
                        "before-validation") != std::string::npos);
  CHECK(result.out.find("transformer.h.*.attn.attn.lora_ind (2 tensors:") != std::string::npos);
  CHECK(result.out.find("ranks 0 and 1: created on meta at init; not in any checkpoint or broadcast (non-persistent "
                        "buffer); never materialized or recomputed") != std::string::npos);
  CHECK(result.out.find("root cause: a buffer computed at construction under the meta device is in no state dict") !=
        std::string::npos);
  CHECK(result.out.find("fix: recompute derived buffers after materialization") != std::string::npos);
  CHECK(result.out.find("SUMMARY: 1 problem, 4 errors") != std::string::npos);
}

TEST_CASE("explain cli: json and markdown formats, and --out", "[explain][cli]") {
  TempDir dir;
  write_failed_run(dir);
  auto json = run_process({metaguard_exe(), "explain", dir.path(), "--format", "json"});
  REQUIRE(json.exit_code == 1);
  auto story = nlohmann::json::parse(json.out);
  CHECK(story["schema"] == "metaguard.explain/1");
  CHECK(story["world_size"] == 2);
  CHECK(story["problems"].size() == 1);
  CHECK(story["problems"][0]["tensors"] == 2);

  auto md = run_process({metaguard_exe(), "explain", dir.file("rank1.json"), "--format", "md"});
  CHECK(md.exit_code == 1);
  CHECK(md.out.rfind("# metaguard explain: ", 0) == 0);
  CHECK(md.out.find("**Root cause:**") != std::string::npos);

  TempDir out;
  auto written = run_process({metaguard_exe(), "explain", dir.path(), "--out", out.file("story.txt")});
  CHECK(written.exit_code == 1);
  CHECK(written.out.empty());
  CHECK(metaguard::test::slurp(out.file("story.txt")).find("SUMMARY: 1 problem") != std::string::npos);
}

TEST_CASE("explain cli: a clean report exits 0", "[explain][cli]") {
  TempDir dir;
  auto result = run_process({metaguard_exe(), "explain", dir.write("clean.json", kCleanReport)});
  CHECK(result.exit_code == 0);
  CHECK(result.out.find("No findings: nothing was flagged.") != std::string::npos);
}

TEST_CASE("explain cli: bad input is exit 2 with a message naming it", "[explain][cli]") {
  TempDir dir;
  auto missing = run_process({metaguard_exe(), "explain", dir.file("nowhere")});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.rfind("metaguard: error: ", 0) == 0);
  CHECK(missing.err.find(dir.file("nowhere")) != std::string::npos);

  std::string bad = dir.write("rank0.json", R"({"schema": "metaguard.report/1", "command": "train", "source": "x",
    "tensors": [{"name": "w"}], "findings": [], "summary": {}})");
  auto malformed = run_process({metaguard_exe(), "explain", dir.path()});
  CHECK(malformed.exit_code == 2);
  CHECK(malformed.err.find(bad + ".tensors[0].kind: missing") != std::string::npos);

  auto truncated = run_process({metaguard_exe(), "explain", dir.write("cut.json", "{\"schema\": ")});
  CHECK(truncated.exit_code == 2);
  CHECK(truncated.err.find("cut.json' is not valid JSON") != std::string::npos);

  auto no_path = run_process({metaguard_exe(), "explain"});
  CHECK(no_path.exit_code == 2);
  CHECK(no_path.err.find("explain: missing PATH") != std::string::npos);

  auto format = run_process({metaguard_exe(), "explain", dir.path(), "--format", "html"});
  CHECK(format.exit_code == 2);
  CHECK(format.err.find("--format: unknown format 'html' for explain") != std::string::npos);

  auto flag = run_process({metaguard_exe(), "explain", "--bogus"});
  CHECK(flag.exit_code == 2);

  auto help = run_process({metaguard_exe(), "explain", "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("usage: metaguard explain PATH") != std::string::npos);
}

TEST_CASE("diff cli: exit 0 when equal, 1 when different, 2 for bad input", "[explain][diff][cli]") {
  TempDir dir;
  std::string rank0 = dir.write("rank0.json", rank_report(0));
  std::string rank1 = dir.write("rank1.json", rank_report(1));

  auto same = run_process({metaguard_exe(), "diff", rank0, rank0});
  INFO(same.out << same.err);
  CHECK(same.exit_code == 0);
  CHECK(same.out.find("no differences") != std::string::npos);

  auto different = run_process({metaguard_exe(), "diff", rank0, rank1});
  INFO(different.out << different.err);
  CHECK(different.exit_code == 1);
  CHECK(different.out.find("A: " + rank0 + " (rank 0)") != std::string::npos);
  CHECK(different.out.find("  transformer.wte.weight\n    provenance\n      A: init: created (meta) -> materialize: "
                           "materialized-empty (cpu) -> load: loaded (cpu)\n      B: init: created (meta) -> "
                           "materialize: materialized-empty (cpu) -> broadcast: received (cpu)\n") != std::string::npos);
  CHECK(different.out.find("DIFF: 1 tensors differ, 0 only in A, 0 only in B; 0 findings only in A, 0 only in B") !=
        std::string::npos);

  auto json = run_process({metaguard_exe(), "diff", rank0, rank1, "--format", "json"});
  CHECK(json.exit_code == 1);
  CHECK(nlohmann::json::parse(json.out)["changed"][0]["tensor"] == "transformer.wte.weight");

  auto one = run_process({metaguard_exe(), "diff", rank0});
  CHECK(one.exit_code == 2);
  CHECK(one.err.find("diff: expected two report files (A.json B.json), got 1") != std::string::npos);

  auto absent = run_process({metaguard_exe(), "diff", rank0, dir.file("absent.json")});
  CHECK(absent.exit_code == 2);
  CHECK(absent.err.find(dir.file("absent.json")) != std::string::npos);

  auto directory = run_process({metaguard_exe(), "diff", rank0, dir.path()});
  CHECK(directory.exit_code == 2);
  CHECK(directory.err.find("is a directory, not a report file") != std::string::npos);
}

namespace {

// A preflight --world-size 2 report: every rank's tensors in one file, each with its rank.
std::string preflight_report(bool rank1_wte_meta) {
  auto ranked = [](std::string tensor, int rank) {
    tensor.pop_back();  // the closing '}'
    return tensor + R"(, "rank": )" + std::to_string(rank) + "}";
  };
  std::string tensors;
  for (int rank = 0; rank < 2; ++rank) {
    bool meta = rank == 1 && rank1_wte_meta;
    tensors += (rank == 0 ? "" : ", ") +
               ranked(tensor_json("transformer.wte.weight", "parameter", meta ? "meta" : "cpu",
                                  meta ? kCreatedMeta : kReceived, meta ? "null" : "\"s0\""),
                      rank);
  }
  std::string findings =
      rank1_wte_meta
          ? R"({"code": "meta-parameter", "severity": "error", "tensor": "transformer.wte.weight", "rank": 1, "phase": "before-forward", "message": "a parameter is still on meta", "hint": "broadcast it", "repaired": false})"
          : "";
  return R"({"schema": "metaguard.report/1", "command": "preflight", "source": "micro", "tensors": [)" + tensors +
         R"(], "findings": [)" + findings +
         R"(], "summary": {}, "preflight": {"world_size": 2}})";
}

}  // namespace

TEST_CASE("diff and explain cli: one report with every rank's tensors", "[explain][diff][cli]") {
  TempDir dir;
  std::string clean = dir.write("clean.json", preflight_report(false));
  std::string broken = dir.write("broken.json", preflight_report(true));

  auto diff = run_process({metaguard_exe(), "diff", clean, broken});
  INFO(diff.out << diff.err);
  CHECK(diff.exit_code == 1);
  CHECK(diff.out.find("  transformer.wte.weight (rank 1)\n") != std::string::npos);
  CHECK(diff.out.find("DIFF: 1 tensors differ, 0 only in A, 0 only in B; 0 findings only in A, 1 only in B") !=
        std::string::npos);

  auto explain = run_process({metaguard_exe(), "explain", broken});
  INFO(explain.out << explain.err);
  CHECK(explain.exit_code == 1);
  CHECK(explain.out.find("(preflight of micro, world size 2)") != std::string::npos);
  CHECK(explain.out.find("rank 1: created on meta at init; never materialized, received by broadcast or initialized\n") !=
        std::string::npos);

  auto json = run_process({metaguard_exe(), "explain", broken, "--format", "json"});
  auto story = nlohmann::json::parse(json.out);
  CHECK(story["world_size"] == 2);
  CHECK(story["ranks"] == nlohmann::json::array({0, 1}));
}
