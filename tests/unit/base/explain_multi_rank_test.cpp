// One report that lists every rank's tensors (preflight --world-size N): the same name once per
// rank, each record and finding with its own rank. diff and explain must keep the ranks apart.
#include <catch2/catch.hpp>

#include <algorithm>

#include "explain/report_diff.hpp"
#include "explain/story.hpp"
#include "explain/story_renderer.hpp"
#include "report_fixtures.hpp"

using namespace metaguard;
using metaguard::test::event;
using metaguard::test::finding;
using metaguard::test::tensor;

namespace {

TensorRecord on_rank(TensorRecord t, int rank) {
  t.rank = rank;
  return t;
}

// Two ranks, both healthy: wte and ln_f materialized and initialized on each.
Report clean_two_ranks() {
  Report report;
  report.command = "preflight";
  report.source = "micro";
  for (int rank = 0; rank < 2; ++rank) {
    for (const char* name : {"transformer.wte.weight", "ln_f.weight"}) {
      report.tensors.push_back(on_rank(tensor(name, "cpu", TensorKind::Parameter,
                                              {event("init", "created", "meta"), event("init", "materialized", "cpu"),
                                               event("init", "initialized", "cpu")}),
                                       rank));
    }
  }
  return report;
}

// Rank 1's wte never received the broadcast: still meta, only created.
Report rank1_wte_on_meta() {
  Report report = clean_two_ranks();
  TensorRecord& wte = report.tensors[2];  // rank 1's transformer.wte.weight
  wte.device = "meta";
  wte.storage.reset();
  wte.provenance = {event("init", "created", "meta")};
  report.findings = {finding("meta-parameter", "transformer.wte.weight", Severity::Error, 1, "before-forward")};
  report.extra["preflight"] = {{"world_size", 2}, {"seed", 42}};
  return report;
}

const Problem* problem_of(const Story& story, const std::string& code) {
  for (const auto& p : story.problems) {
    if (p.code == code) return &p;
  }
  return nullptr;
}

RunReports single(const Report& report) {
  RunReports run;
  run.path = "preflight.json";
  ReportFile file;
  file.file = "preflight.json";
  file.report = report;
  run.run = file;
  return run;
}

}  // namespace

TEST_CASE("multi-rank diff: one rank's tensor differs", "[explain][diff][ranks]") {
  Report a = clean_two_ranks();
  Report b = clean_two_ranks();
  b.tensors[2].device = "meta";  // rank 1's wte only
  ReportDiff diff = diff_reports(a, b, "A", "B");
  CHECK(diff.by_rank);
  CHECK_FALSE(diff.identical());
  CHECK(diff.exit_code() == 1);
  REQUIRE(diff.changed.size() == 1);
  CHECK(diff.changed[0].tensor == "transformer.wte.weight");
  CHECK(diff.changed[0].rank == 1);
  REQUIRE(diff.changed[0].changes.size() == 1);
  CHECK(diff.changed[0].changes[0].field == "device");
  CHECK(diff.changed[0].changes[0].a == "cpu");
  CHECK(diff.changed[0].changes[0].b == "meta");

  std::string text = render_diff(diff, "text");
  CHECK(text.find("tensors that differ (1):\n  transformer.wte.weight (rank 1)\n    device\n      A: cpu\n      B: meta\n") !=
        std::string::npos);
  CHECK(text.find("DIFF: 1 tensors differ, 0 only in A, 0 only in B; 0 findings only in A, 0 only in B") !=
        std::string::npos);
  auto json = nlohmann::json::parse(render_diff(diff, "json"));
  CHECK(json["changed"][0]["tensor"] == "transformer.wte.weight");
  CHECK(json["changed"][0]["rank"] == 1);
}

TEST_CASE("multi-rank diff: a tensor one rank lacks, storage ids per rank", "[explain][diff][ranks]") {
  Report a = clean_two_ranks();
  Report b = clean_two_ranks();
  b.tensors.erase(b.tensors.begin() + 3);  // rank 1's ln_f.weight
  // Every rank numbers its storages from s0: rank 0's s0 is not rank 1's s0.
  for (auto& t : a.tensors) t.storage = t.name == "ln_f.weight" ? "s0" : "s1";
  for (auto& t : b.tensors) t.storage = t.name == "ln_f.weight" ? "s0" : "s1";
  ReportDiff diff = diff_reports(a, b, "A", "B");
  CHECK(diff.only_in_a == std::vector<std::string>{"ln_f.weight (rank 1)"});
  CHECK(diff.only_in_b.empty());
  CHECK(diff.changed.empty());  // each tensor still has its own storage on its rank
}

TEST_CASE("multi-rank diff: findings keep their rank", "[explain][diff][ranks]") {
  Report a = clean_two_ranks();
  Report b = clean_two_ranks();
  for (const char* name : {"transformer.wte.weight", "ln_f.weight"}) {
    for (int rank : {0, 1}) b.findings.push_back(finding("meta-parameter", name, Severity::Error, rank));
  }
  a.findings = {finding("meta-parameter", "ln_f.weight", Severity::Error, 0)};
  ReportDiff diff = diff_reports(a, b, "A", "B");
  CHECK(diff.findings_only_in_a.empty());
  REQUIRE(diff.findings_only_in_b.size() == 3);  // 2 tensors x 2 ranks, less the one A has
  std::vector<std::pair<std::string, int>> seen;
  for (const auto& f : diff.findings_only_in_b) seen.emplace_back(*f.tensor, f.rank.value_or(-1));
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::pair<std::string, int>>{
                    {"ln_f.weight", 1}, {"transformer.wte.weight", 0}, {"transformer.wte.weight", 1}});
  std::string text = render_diff(diff, "text");
  CHECK(text.find("error [meta-parameter] transformer.wte.weight (rank 1) at before-forward:") != std::string::npos);
  CHECK(text.find("error [meta-parameter] ln_f.weight (rank 0)") == std::string::npos);
}

TEST_CASE("multi-rank diff: single-rank reports still compare by name", "[explain][diff][ranks]") {
  // rank0.json against rank1.json: the records may carry their rank, the names are compared.
  Report a;
  Report b;
  a.tensors = {on_rank(tensor("ln_f.weight"), 0)};
  b.tensors = {on_rank(tensor("ln_f.weight", "meta"), 1)};
  a.findings = {finding("meta-buffer", "x", Severity::Error, 0)};
  b.findings = {finding("meta-buffer", "x", Severity::Error, 1)};
  ReportDiff diff = diff_reports(a, b, "A", "B");
  CHECK_FALSE(diff.by_rank);
  CHECK(diff.only_in_a.empty());
  REQUIRE(diff.changed.size() == 1);
  CHECK(diff.changed[0].tensor == "ln_f.weight");
  CHECK_FALSE(diff.changed[0].rank.has_value());
  CHECK(diff.findings_only_in_a.empty());
  CHECK(diff.findings_only_in_b.empty());
}

TEST_CASE("multi-rank explain: each rank's history from its own record", "[explain][story][ranks]") {
  Story story = build_story(single(rank1_wte_on_meta()));
  const Problem* meta = problem_of(story, "meta-parameter");
  REQUIRE(meta != nullptr);
  REQUIRE(meta->groups.size() == 1);
  REQUIRE(meta->groups[0].histories.size() == 1);
  CHECK(meta->groups[0].histories[0].ranks == std::vector<int>{1});
  CHECK(meta->groups[0].histories[0].history ==
        "created on meta at init; never materialized, received by broadcast or initialized");

  // Both ranks flagged, different records: two histories, one per rank.
  Report both = rank1_wte_on_meta();
  both.tensors[0].uninitialized = true;  // rank 0's wte: given storage, never written
  both.tensors[0].provenance = {event("init", "created", "meta"), event("init", "materialized-empty", "cpu")};
  both.findings.push_back(finding("meta-parameter", "transformer.wte.weight", Severity::Error, 0, "before-forward"));
  Story story2 = build_story(single(both));
  const Problem* meta2 = problem_of(story2, "meta-parameter");
  REQUIRE(meta2 != nullptr);
  REQUIRE(meta2->groups.size() == 1);
  REQUIRE(meta2->groups[0].histories.size() == 2);
  CHECK(meta2->groups[0].histories[0].ranks == std::vector<int>{0});
  CHECK(meta2->groups[0].histories[0].history ==
        "created on meta at init; given uninitialized storage on cpu at init; never initialized; "
        "its values are whatever the memory held");
  CHECK(meta2->groups[0].histories[1].ranks == std::vector<int>{1});
  CHECK(meta2->groups[0].histories[1].history ==
        "created on meta at init; never materialized, received by broadcast or initialized");
}

TEST_CASE("multi-rank explain: world size and ranks from one report", "[explain][story][ranks]") {
  Story declared = build_story(single(rank1_wte_on_meta()));
  CHECK(declared.world_size == 2);
  CHECK(declared.ranks == std::vector<int>{0, 1});
  auto json = story_to_json(declared);
  CHECK(json["world_size"] == 2);
  CHECK(json["ranks"] == nlohmann::json::array({0, 1}));
  CHECK(story_to_text(declared).find("(preflight of micro, world size 2)") != std::string::npos);

  // No preflight section: the records' ranks (0..2) say at least 3.
  Report three = clean_two_ranks();
  three.tensors.push_back(on_rank(tensor("ln_f.weight"), 2));
  Story derived = build_story(single(three));
  CHECK(derived.world_size == 3);
  CHECK(derived.ranks == std::vector<int>{0, 1, 2});

  // A report that names no rank keeps both unknown.
  Report plain;
  plain.command = "scan";
  plain.tensors = {tensor("ln_f.weight")};
  Story none = build_story(single(plain));
  CHECK_FALSE(none.world_size.has_value());
  CHECK(none.ranks.empty());
}
