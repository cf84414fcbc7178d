#include <catch2/catch.hpp>

#include "core/errors.hpp"
#include "explain/run_reader.hpp"
#include "explain_fixtures.hpp"
#include "report_fixtures.hpp"

using namespace metaguard;
using metaguard::test::finding;
using metaguard::test::ScratchDir;
using metaguard::test::tensor;

namespace {

Report rank_report(int rank) {
  Report report;
  report.command = "train";
  report.source = "micro";
  report.tensors = {tensor("w")};
  report.findings = {finding("meta-parameter", "w", Severity::Error, rank)};
  report.extra["rank"] = rank;
  return report;
}

std::string error_of(const std::string& path) {
  try {
    read_run(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("explain run reader: rank numbers from file names", "[explain][reader]") {
  CHECK(rank_from_file_name("rank0.json") == 0);
  CHECK(rank_from_file_name("rank12.json") == 12);
  CHECK(rank_from_file_name("rank007.json") == 7);
  CHECK_FALSE(rank_from_file_name("rank.json"));
  CHECK_FALSE(rank_from_file_name("rank1.json.tmp"));
  CHECK_FALSE(rank_from_file_name("rank-1.json"));
  CHECK_FALSE(rank_from_file_name("rank1x.json"));
  CHECK_FALSE(rank_from_file_name("report.json"));
  CHECK_FALSE(rank_from_file_name("rank12345678.json"));  // no overflow from absurd names
}

TEST_CASE("explain run reader: a run directory", "[explain][reader]") {
  ScratchDir dir;
  Report run = rank_report(0);
  run.extra.erase("rank");
  write_report(dir, "report.json", run);
  write_report(dir, "rank1.json", rank_report(1));
  write_report(dir, "rank0.json", rank_report(0));
  write_report(dir, "rank10.json", rank_report(10));
  dir.write("notes.txt", "not a report");
  dir.write("rank2.json.tmp.123", "half-written");

  RunReports reports = read_run(dir.path());
  CHECK(reports.directory);
  REQUIRE(reports.run);
  CHECK(reports.run->file == dir.file("report.json"));
  CHECK_FALSE(reports.run->rank);
  REQUIRE(reports.ranks.size() == 3);
  CHECK(reports.ranks[0].rank == 0);
  CHECK(reports.ranks[1].rank == 1);
  CHECK(reports.ranks[2].rank == 10);  // numeric order, not text order
  CHECK(reports.ranks[2].file == dir.file("rank10.json"));
  CHECK(reports.all().size() == 4);
  CHECK(reports.all().front() == &*reports.run);
}

TEST_CASE("explain run reader: only rank reports, or one file", "[explain][reader]") {
  ScratchDir dir;
  write_report(dir, "rank1.json", rank_report(1));
  RunReports ranks_only = read_run(dir.path());
  CHECK_FALSE(ranks_only.run);
  CHECK(ranks_only.ranks.size() == 1);

  RunReports one_rank = read_run(dir.file("rank1.json"));
  CHECK_FALSE(one_rank.directory);
  REQUIRE(one_rank.ranks.size() == 1);
  CHECK(one_rank.ranks[0].rank == 1);

  Report plain = rank_report(0);
  plain.extra.erase("rank");
  RunReports single = read_run(write_report(dir, "scan.json", plain));
  REQUIRE(single.run);
  CHECK(single.ranks.empty());
}

TEST_CASE("explain run reader: errors name the file and what is wrong", "[explain][reader]") {
  ScratchDir dir;
  CHECK_THAT(error_of(dir.file("absent")), Catch::Contains(dir.file("absent")) && Catch::Contains("no such file"));
  CHECK_THAT(error_of(dir.path()), Catch::Contains(dir.path()) && Catch::Contains("no report.json or rank<k>.json"));
  CHECK_THAT(error_of("/dev/null"), Catch::Contains("/dev/null") && Catch::Contains("not a regular file"));

  std::string broken = dir.write("broken.json", "{\"schema\": \"metaguard.report/1\", ");
  CHECK_THAT(error_of(broken), Catch::Contains(broken) && Catch::Contains("not valid JSON"));
  // fixtures/fuzz/fuzz_report/number-overflow.json, the fuzzer's first find: a number out
  // of range is an input error like any other malformed JSON, not an internal one.
  std::string overflow = dir.write("overflow.json", R"({"summary": {"tensors": 1e999}})");
  CHECK_THAT(error_of(overflow), Catch::Contains(overflow) && Catch::Contains("not valid JSON") &&
                                     Catch::Contains("number overflow"));

  std::string wrong_field = dir.write(
      "wrong.json",
      R"({"schema": "metaguard.report/1", "command": "scan", "source": "x", "tensors": [], "findings": [{"code": 7}], "summary": {}})");
  CHECK_THAT(error_of(wrong_field), Catch::Contains(wrong_field + ".findings[0].code"));

  std::string bad_loss = dir.write(
      "loss.json",
      R"({"schema": "metaguard.report/1", "command": "train", "source": "x", "tensors": [], "findings": [], "summary": {},
          "training": {"world_size": 1, "steps": 1, "global_batch": 1, "seq_len": 1, "losses": ["high"],
                       "val_losses": [], "final_loss": null, "tokens_per_s": 0, "stopped": null}})");
  CHECK_THAT(error_of(bad_loss), Catch::Contains(bad_loss + ".training.losses") && Catch::Contains("non-number"));

  std::string other_schema = dir.write("other.json", R"({"schema": "something/2"})");
  CHECK_THAT(error_of(other_schema), Catch::Contains(other_schema + ".schema"));

  ScratchDir run;
  write_report(run, "rank1.json", rank_report(0));
  CHECK_THAT(error_of(run.path()), Catch::Contains("rank1.json.rank: is 0, but the file name says rank 1"));

  ScratchDir twice;
  write_report(twice, "rank1.json", rank_report(1));
  write_report(twice, "rank01.json", rank_report(1));
  CHECK_THAT(error_of(twice.path()), Catch::Contains("claim rank 1"));

  ScratchDir negative;
  Report bad_rank = rank_report(0);
  bad_rank.extra["rank"] = -3;
  std::string negative_file = write_report(negative, "r.json", bad_rank);
  CHECK_THAT(error_of(negative_file), Catch::Contains(negative_file + ".rank: is not a rank"));
}
