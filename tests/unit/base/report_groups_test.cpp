// Findings grouped into problems (report/finding_groups.hpp) and the name and rank patterns
// that let one line speak for every layer and rank. Expected texts are written out by hand.
#include <catch2/catch.hpp>
#include <rapidcheck/catch.h>

#include "report/finding_groups.hpp"
#include "report/name_patterns.hpp"
#include "unit/base/report_fixtures.hpp"

using namespace metaguard;

namespace {

std::string layer(int i) { return "transformer.h." + std::to_string(i) + ".attn.attn.lora_ind"; }

Finding meta_buffer(int layer_index, int rank, const std::string& phase = "before-validation") {
  Finding f = test::finding("meta-nonpersistent-buffer", layer(layer_index), Severity::Error, rank, phase);
  f.message = "Non-persistent buffer " + layer(layer_index) + " is on meta on rank " + std::to_string(rank) + " at " +
              phase + ": never recomputed.";
  f.hint = "recompute derived buffers";
  return f;
}

}  // namespace

TEST_CASE("report groups: names become one brace pattern with runs compressed", "[report][groups]") {
  CHECK(compress_names({layer(0)}) == layer(0));
  std::vector<std::string> all;
  for (int i = 79; i >= 0; --i) all.push_back(layer(i));
  CHECK(compress_names(all) == "transformer.h.{0..79}.attn.attn.lora_ind");
  CHECK(compress_names({layer(0), layer(1), layer(2), layer(3), layer(5), layer(7), layer(8), layer(9)}) ==
        "transformer.h.{0..3,5,7..9}.attn.attn.lora_ind");
  CHECK(compress_names({layer(4), layer(6)}) == "transformer.h.{4,6}.attn.attn.lora_ind");
  CHECK(compress_names({layer(4), layer(5)}) == "transformer.h.{4,5}.attn.attn.lora_ind");
  // Differences a single brace cannot say are listed, never hidden behind a '*'.
  CHECK(compress_names({"h.0.fc_1", "h.1.fc_2"}) == "h.0.fc_1 and h.1.fc_2");
  CHECK(compress_names({"a.weight", "b.weight", "c.bias"}) == "a.weight, b.weight and c.bias");
  CHECK(compress_names({"a", "b", "c", "d", "e"}) == "a, b, ... (5 names)");
  CHECK(compress_names({"h.01.w", "h.2.w"}) == "h.01.w and h.2.w");  // leading zeros are names, not numbers
  CHECK(compress_names({}) == "");
}

TEST_CASE("report groups: ranks read as all, one, or runs", "[report][groups]") {
  CHECK(rank_set_text({3}, 8) == "rank 3");
  CHECK(rank_set_text({7, 6, 5, 4, 3, 2, 1, 0}, 8) == "all 8 ranks");
  CHECK(rank_set_text({0, 1, 2, 3, 5, 6, 7}, 8) == "ranks 0-3, 5-7");
  CHECK(rank_set_text({0, 1}, std::nullopt) == "ranks 0, 1");
  CHECK(rank_set_text({1, 0}, 2) == "both ranks");
  CHECK(rank_set_text({0, 2, 4}, 8) == "ranks 0, 2, 4");
  CHECK(rank_set_text({}, 8) == "");
}

TEST_CASE("report groups: 80 layers on 8 ranks are one problem; an outlier rank or tensor stays its own",
          "[report][groups]") {
  std::vector<Finding> findings;
  for (int rank = 0; rank < 8; ++rank) {
    for (int i = 0; i < 80; ++i) findings.push_back(meta_buffer(i, rank));
  }
  // Rank 5 saw layer 3 at another phase: another story.
  findings.push_back(meta_buffer(3, 5, "before-forward"));
  // Another code on one tensor.
  findings.push_back(test::finding("uninitialized-storage", "lm_head.linear.weight", Severity::Warning, 2));

  auto groups = group_findings(findings, 8);
  REQUIRE(groups.size() == 3);
  CHECK(groups[0].size() == 640);
  CHECK(groups[0].tensor_pattern == "transformer.h.{0..79}.attn.attn.lora_ind");
  CHECK(groups[0].ranks_text == "all 8 ranks");
  CHECK(groups[0].message ==
        "Non-persistent buffer transformer.h.{0..79}.attn.attn.lora_ind is on meta on all 8 ranks at before-validation: "
        "never recomputed.");
  CHECK(groups[0].members.front() == 0);
  CHECK(groups[0].members.back() == 639);
  CHECK(groups[1].size() == 1);
  CHECK(groups[1].message == findings[640].message);  // one finding reads as it always did
  CHECK(groups[2].first->code == "uninitialized-storage");
}

TEST_CASE("report groups: unrelated tensors with the same problem keep their own lines", "[report][groups]") {
  // A scan's meta entries: the same words for each, but different tensors, not layers of one.
  std::vector<Finding> findings;
  for (const char* name : {"bn.bias", "bn.weight", "embed.weight", "head.weight"}) {
    Finding f = test::finding("meta-checkpoint-entry", name);
    f.message = std::string("checkpoint entry '") + name + "' is a meta tensor";
    findings.push_back(f);
  }
  CHECK(group_findings(findings, std::nullopt).size() == 4);
}

TEST_CASE("report groups: the same story on some ranks names the exceptions", "[report][groups]") {
  std::vector<Finding> findings;
  for (int rank : {0, 1, 2, 3, 5, 6, 7}) findings.push_back(meta_buffer(0, rank));
  auto groups = group_findings(findings, 8);
  REQUIRE(groups.size() == 1);
  CHECK(groups[0].ranks_text == "ranks 0-3, 5-7");
  CHECK(groups[0].tensor_pattern == layer(0));
  // "rank 1" inside "rank 12" is not a rank mention of rank 1.
  Finding twelve = meta_buffer(0, 1);
  twelve.message = "on rank 1, not rank 12";
  Finding other = meta_buffer(0, 2);
  other.message = "on rank 2, not rank 12";
  auto pair = group_findings({twelve, other}, 16);
  REQUIRE(pair.size() == 1);
  CHECK(pair[0].message == "on ranks 1, 2, not rank 12");
}

TEST_CASE("report groups: every finding is in exactly one group, and a group's members share what the key says",
          "[report][groups][property]") {
  rc::prop("partition", [] {
    const auto count = *rc::gen::inRange<size_t>(0, 60);
    std::vector<Finding> findings;
    for (size_t i = 0; i < count; ++i) {
      Finding f = meta_buffer(*rc::gen::inRange(0, 6), *rc::gen::inRange(0, 4),
                              *rc::gen::element<std::string>("init", "before-validation"));
      if (*rc::gen::inRange(0, 5) == 0) f.code = "meta-parameter";
      findings.push_back(f);
    }
    auto groups = group_findings(findings, 4);
    std::vector<int> seen(findings.size(), 0);
    for (const auto& group : groups) {
      for (size_t index : group.members) {
        ++seen[index];
        RC_ASSERT(findings[index].code == group.first->code);
        RC_ASSERT(findings[index].phase == group.first->phase);
      }
    }
    for (int times : seen) RC_ASSERT(times == 1);
  });
}
