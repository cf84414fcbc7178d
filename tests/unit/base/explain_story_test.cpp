#include <catch2/catch.hpp>
#include <rapidcheck/catch.h>

#include <algorithm>

#include "explain/cause_catalog.hpp"
#include "explain/story.hpp"
#include "explain/story_renderer.hpp"
#include "core/errors.hpp"
#include "report_fixtures.hpp"

using namespace metaguard;
using metaguard::test::event;
using metaguard::test::finding;
using metaguard::test::tensor;

namespace {

// A two-rank run where every layer's lora_ind stayed on meta (LitGPT issues 1378/1385),
// rank 1 never received the embedding, and one warning.
RunReports lora_ind_run() {
  auto lora_ind = [](int layer) {
    return tensor("transformer.h." + std::to_string(layer) + ".attn.attn.lora_ind", "meta",
                  TensorKind::NonpersistentBuffer, {event("init", "created", "meta")});
  };
  auto loaded = tensor("transformer.wte.weight", "cpu", TensorKind::Parameter,
                       {event("init", "created", "meta"), event("materialize", "materialized-empty", "cpu"),
                        event("load", "loaded", "cpu")});
  auto never_received = tensor("transformer.wte.weight", "meta", TensorKind::Parameter, {event("init", "created", "meta")});

  RunReports run;
  run.path = "runs/demo";
  run.directory = true;
  for (int rank = 0; rank < 2; ++rank) {
    ReportFile file;
    file.file = "runs/demo/rank" + std::to_string(rank) + ".json";
    file.rank = rank;
    file.report.command = "train";
    file.report.source = "micro";
    file.report.tensors = {rank == 0 ? loaded : never_received};
    for (int layer : {10, 2, 0, 1}) {
      file.report.tensors.push_back(lora_ind(layer));
      // The rank reports do not repeat their rank in each finding: the file says it.
      file.report.findings.push_back(finding("meta-nonpersistent-buffer", lora_ind(layer).name, Severity::Error,
                                             std::nullopt, "before-validation"));
    }
    if (rank == 1) {
      file.report.findings.push_back(finding("meta-parameter", "transformer.wte.weight", Severity::Error,
                                             std::nullopt, "before-forward"));
    }
    run.ranks.push_back(file);
  }
  // The combined report repeats rank 1's findings with their rank, and adds a warning.
  ReportFile combined;
  combined.file = "runs/demo/report.json";
  combined.report.command = "train";
  combined.report.source = "micro";
  combined.report.findings = run.ranks[1].report.findings;
  for (auto& f : combined.report.findings) f.rank = 1;
  combined.report.findings.push_back(finding("lora-trainability", "transformer.wte.weight", Severity::Warning));
  TrainingInfo training;
  training.world_size = 2;
  training.stopped = StopReason{"before-validation", 1, "5 tensors on meta."};
  combined.report.training = training;
  run.run = combined;
  return run;
}

const Problem& problem(const Story& story, const std::string& code) {
  auto it = std::find_if(story.problems.begin(), story.problems.end(),
                         [&](const Problem& p) { return p.code == code; });
  REQUIRE(it != story.problems.end());
  return *it;
}

}  // namespace

TEST_CASE("explain story: a failed two-rank run", "[explain][story]") {
  Story story = build_story(lora_ind_run());
  CHECK(story.command == "train");
  CHECK(story.world_size == 2);
  CHECK(story.files == std::vector<std::string>{"runs/demo/report.json", "runs/demo/rank0.json", "runs/demo/rank1.json"});
  CHECK(story.ranks == std::vector<int>{0, 1});
  CHECK(story.headline == "The run stopped at before-validation on rank 1: 5 tensors on meta.");
  // 4 lora_ind x 2 ranks + 1 meta-parameter on rank 1; the combined report's copies are merged.
  CHECK(story.errors == 9);
  CHECK(story.warnings == 1);
  CHECK(story.exit_code() == 1);

  REQUIRE(story.problems.size() == 3);
  CHECK(story.problems[0].code == "meta-nonpersistent-buffer");  // errors first, then by code
  CHECK(story.problems[1].code == "meta-parameter");
  CHECK(story.problems[2].code == "lora-trainability");

  const Problem& lora = problem(story, "meta-nonpersistent-buffer");
  CHECK(lora.findings == 8);
  CHECK(lora.tensor_count() == 4);
  CHECK(lora.ranks == std::vector<int>{0, 1});
  CHECK(lora.phases == std::vector<std::string>{"before-validation"});
  REQUIRE(lora.groups.size() == 1);
  CHECK(lora.groups[0].pattern == "transformer.h.*.attn.attn.lora_ind");
  CHECK(lora.groups[0].tensors == std::vector<std::string>{
                                      "transformer.h.0.attn.attn.lora_ind", "transformer.h.1.attn.attn.lora_ind",
                                      "transformer.h.2.attn.attn.lora_ind", "transformer.h.10.attn.attn.lora_ind"});
  REQUIRE(lora.groups[0].histories.size() == 1);
  CHECK(lora.groups[0].histories[0].ranks == std::vector<int>{0, 1});
  CHECK(lora.cause == std::string(cause_for("meta-nonpersistent-buffer").cause));
  CHECK(lora.hints == std::vector<std::string>{"fix meta-nonpersistent-buffer"});

  const Problem& wte = problem(story, "meta-parameter");
  REQUIRE(wte.groups.size() == 1);
  CHECK(wte.groups[0].pattern.empty());
  REQUIRE(wte.groups[0].histories.size() == 1);
  // Rank 1's own ledger tells its story, not rank 0's (which loaded the weight).
  CHECK(wte.groups[0].histories[0].ranks == std::vector<int>{1});
  CHECK(wte.groups[0].histories[0].history == "created on meta at init; never materialized, received by broadcast or initialized");
}

TEST_CASE("explain story: renderers say the same story", "[explain][story]") {
  Story story = build_story(lora_ind_run());
  std::string text = render_story(story, "text");
  INFO(text);
  CHECK(text.find("The run stopped at before-validation on rank 1: 5 tensors on meta.\n") != std::string::npos);
  CHECK(text.find("1. meta-nonpersistent-buffer (error): 8 findings on 4 tensors, ranks 0 and 1, seen at before-validation") !=
        std::string::npos);
  CHECK(text.find("transformer.h.*.attn.attn.lora_ind (4 tensors: transformer.h.0.attn.attn.lora_ind ... "
                  "transformer.h.10.attn.attn.lora_ind)") != std::string::npos);
  CHECK(text.find("ranks 0 and 1: created on meta at init; not in any checkpoint or broadcast (non-persistent "
                  "buffer); never materialized or recomputed") != std::string::npos);
  CHECK(text.find("root cause: a buffer computed at construction under the meta device is in no state dict") !=
        std::string::npos);
  CHECK(text.find("3. lora-trainability (warning)") != std::string::npos);
  CHECK(text.find("SUMMARY: 3 problems, 9 errors, 1 warnings, 0 repaired, 0 allowed; 3 reports read\n") !=
        std::string::npos);

  std::string md = render_story(story, "md");
  CHECK(md.find("## 1. meta-nonpersistent-buffer (error)") != std::string::npos);
  CHECK(md.find("transformer.h.\\*.attn.attn.lora\\_ind") != std::string::npos);

  auto json = nlohmann::json::parse(render_story(story, "json"));
  CHECK(json["schema"] == "metaguard.explain/1");
  CHECK(json["stopped"]["rank"] == 1);
  CHECK(json["problems"][0]["groups"][0]["pattern"] == "transformer.h.*.attn.attn.lora_ind");
  CHECK(json["problems"][1]["groups"][0]["histories"][0]["ranks"] == nlohmann::json::array({1}));
  CHECK(json["summary"]["errors"] == 9);
  CHECK_THROWS_AS(render_story(story, "html"), InputError);
}

TEST_CASE("explain story: repaired, allowed and clean runs", "[explain][story]") {
  RunReports run;
  run.path = "r.json";
  ReportFile file;
  file.file = "r.json";
  file.report.command = "preflight";
  Finding fixed = finding("meta-parameter", "a");
  fixed.repaired = true;
  Finding allowed = finding("meta-parameter", "b", Severity::Info);
  allowed.allowed = true;
  file.report.findings = {fixed, allowed};
  run.run = file;
  Story story = build_story(run);
  CHECK(story.exit_code() == 0);
  CHECK(story.repaired == 1);
  CHECK(story.allowed == 1);
  CHECK(story.headline == "No error remains: 1 finding was repaired.");
  REQUIRE(story.problems.size() == 1);
  CHECK_FALSE(story.problems[0].repaired);  // b is still open, only allowed
  CHECK(story.problems[0].allowed);
  CHECK_FALSE(story.world_size);

  run.run->report.findings.clear();
  CHECK(build_story(run).headline == "No findings: nothing was flagged.");
  run.run->report.findings = {finding("mixed-devices", "")};
  Story model_level = build_story(run);
  CHECK(model_level.headline == "1 error finding remains.");
  REQUIRE(model_level.problems.size() == 1);
  CHECK(model_level.problems[0].tensor_count() == 0);
  CHECK(model_level.problems[0].messages == std::vector<std::string>{" has a mixed-devices problem"});
}

TEST_CASE("explain story: the cause catalog covers CONTRACT.md's codes and the added ones", "[explain][story]") {
  // Written out here, not taken from the catalog, so a missing entry fails.
  const char* contract_codes[] = {"meta-parameter", "meta-buffer", "meta-nonpersistent-buffer", "meta-checkpoint-entry",
                                  "uninitialized-storage", "stale-derived-buffer", "optimizer-stale-reference",
                                  "tied-weights-broken", "mixed-devices", "rank-divergence", "missing-key",
                                  "unexpected-key", "shape-mismatch", "dtype-mismatch", "nonfinite-values",
                                  "lora-trainability",
                                  // docs/CONTRACT-ADDITIONS.md
                                  "device-memory-exceeded", "empty-shard"};
  for (const char* code : contract_codes) {
    INFO(code);
    Cause cause = cause_for(code);
    CHECK(cause.code == code);
    CHECK(cause.cause.size() > 40);
    CHECK(cause.fix.size() > 20);
  }
  CHECK(cause_catalog().size() == std::size(contract_codes));
  CHECK(cause_for("brand-new-code").fix.empty());
}

TEST_CASE("explain story: ranks, natural order and name patterns", "[explain][story]") {
  CHECK(ranks_text({}) == "");
  CHECK(ranks_text({1}) == "rank 1");
  CHECK(ranks_text({1, 0}) == "ranks 0 and 1");
  CHECK(ranks_text({0, 1, 2, 3, 1}) == "ranks 0-3");
  CHECK(ranks_text({0, 2, 5}) == "ranks 0, 2 and 5");

  CHECK(natural_less("h.2.w", "h.10.w"));
  CHECK_FALSE(natural_less("h.10.w", "h.2.w"));
  CHECK(natural_less("a", "b"));
  CHECK(natural_less("h.1", "h.1.w"));
  CHECK_FALSE(natural_less("x", "x"));
  CHECK(natural_less("h.99999999999999999999998", "h.99999999999999999999999"));  // no overflow

  CHECK(name_pattern({"h.0.w", "h.12.w"}) == "h.*.w");
  CHECK(name_pattern({"h.0.w"}) == "");
  CHECK(name_pattern({"h.0.w", "g.1.w"}) == "");
  CHECK(name_pattern({"a.w", "b.w"}) == "");

  rc::prop("natural_less is a strict weak order consistent with equality", [] {
    // A small alphabet so that digit runs, leading zeros and shared prefixes are common.
    auto gen = rc::gen::container<std::string>(rc::gen::element('0', '1', '9', 'a', '.'));
    std::string a = *gen;
    std::string b = *gen;
    std::string c = *gen;
    RC_ASSERT(!natural_less(a, a));
    RC_ASSERT(!(natural_less(a, b) && natural_less(b, a)));
    if (natural_less(a, b) && natural_less(b, c)) RC_ASSERT(natural_less(a, c));
    if (a != b) RC_ASSERT(natural_less(a, b) || natural_less(b, a));
  });
}
