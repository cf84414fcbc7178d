#include <catch2/catch.hpp>

#include "checks/registry.hpp"
#include "core/report.hpp"
#include "support/records.hpp"

using namespace metaguard;
using metaguard::test::record;

namespace {

std::vector<Finding> run_one(std::string_view code, const CheckContext& context) {
  std::vector<Finding> out;
  const Check* check = find_check(code);
  REQUIRE(check != nullptr);
  check->run(context, out);
  return out;
}

}  // namespace

TEST_CASE("every contract check code is registered once", "[checks]") {
  const char* codes[] = {"meta-parameter", "meta-buffer", "meta-nonpersistent-buffer",
                         "uninitialized-storage", "stale-derived-buffer", "tied-weights-broken",
                         "mixed-devices", "optimizer-stale-reference", "rank-divergence",
                         "lora-trainability"};
  for (const char* code : codes) {
    int count = 0;
    for (const auto& check : all_checks()) count += check->code() == code ? 1 : 0;
    CHECK(count == 1);
  }
}

TEST_CASE("meta checks fire per kind where data is needed", "[checks]") {
  Inventory inventory({record("a.weight", TensorKind::Parameter, "meta"),
                       record("a.running", TensorKind::Buffer, "meta"),
                       record("a.lora_ind", TensorKind::NonpersistentBuffer, "meta"),
                       record("b.weight", TensorKind::Parameter, "cpu")});
  CheckContext context{inventory, "before-validation", 1};

  auto params = run_one("meta-parameter", context);
  REQUIRE(params.size() == 1);
  CHECK(params[0].tensor == std::optional<std::string>("a.weight"));
  CHECK(params[0].rank == std::optional<int>(1));
  CHECK(params[0].phase == std::optional<std::string>("before-validation"));
  CHECK(params[0].severity == Severity::Error);
  CHECK(params[0].message.find("Cannot copy out of meta tensor") != std::string::npos);

  auto buffers = run_one("meta-buffer", context);
  REQUIRE(buffers.size() == 1);
  CHECK(*buffers[0].tensor == "a.running");

  auto nonpersistent = run_one("meta-nonpersistent-buffer", context);
  REQUIRE(nonpersistent.size() == 1);
  CHECK(*nonpersistent[0].tensor == "a.lora_ind");
  CHECK(nonpersistent[0].hint.find("recompute") != std::string::npos);
}

TEST_CASE("meta checks stay quiet where data is not needed yet", "[checks]") {
  Inventory inventory({record("a.weight", TensorKind::Parameter, "meta"),
                       record("a.lora_ind", TensorKind::NonpersistentBuffer, "meta")});
  CheckContext at_init{inventory, "init", 0, DataNeeds::none()};
  CHECK(run_checks(at_init).empty());

  CheckContext after_broadcast{inventory, "broadcast", 0, DataNeeds::persistent()};
  auto findings = run_checks(after_broadcast);
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].code == "meta-parameter");
}

TEST_CASE("a clean inventory has no findings", "[checks]") {
  Inventory inventory({record("a.weight"), record("a.bias"), record("b.lora_ind", TensorKind::NonpersistentBuffer)});
  CheckContext context{inventory, "before-forward", 0};
  CHECK(run_checks(context).empty());
}

TEST_CASE("uninitialized-storage fires only on written-never, non-meta tensors", "[checks]") {
  auto garbage = record("rope.cos", TensorKind::NonpersistentBuffer);
  garbage.uninitialized = true;
  garbage.derived = true;
  auto meta = record("x.weight", TensorKind::Parameter, "meta");
  meta.uninitialized = true;  // meta is the meta checks' business
  Inventory inventory({garbage, meta, record("ok.weight")});
  CheckContext context{inventory, "before-forward", 0};
  auto findings = run_one("uninitialized-storage", context);
  REQUIRE(findings.size() == 1);
  CHECK(*findings[0].tensor == "rope.cos");
  CHECK(findings[0].hint.find("recompute") != std::string::npos);
}

TEST_CASE("stale-derived-buffer fires only when the recipe disagrees", "[checks]") {
  auto stale = record("attn.lora_ind", TensorKind::NonpersistentBuffer);
  stale.derived = true;
  stale.derived_current = false;
  auto fresh = record("attn2.lora_ind", TensorKind::NonpersistentBuffer);
  fresh.derived = true;
  fresh.derived_current = true;
  auto unknown = record("attn3.lora_ind", TensorKind::NonpersistentBuffer);
  unknown.derived = true;  // not verified: no claim either way
  Inventory inventory({stale, fresh, unknown});
  CheckContext context{inventory, "before-forward", 0};
  auto findings = run_one("stale-derived-buffer", context);
  REQUIRE(findings.size() == 1);
  CHECK(*findings[0].tensor == "attn.lora_ind");
}

TEST_CASE("tied-weights-broken compares against the ties the ledger first saw", "[checks]") {
  Ledger ledger;
  ledger.record("init", Inventory({record("wte.weight", TensorKind::Parameter, "meta", 7),
                                   record("lm_head.weight", TensorKind::Parameter, "meta", 7)}));
  Inventory still_tied({record("wte.weight", TensorKind::Parameter, "cpu", 9),
                        record("lm_head.weight", TensorKind::Parameter, "cpu", 9)});
  CheckContext ok{still_tied, "materialize", 0};
  ok.ledger = &ledger;
  CHECK(run_one("tied-weights-broken", ok).empty());

  Inventory untied({record("wte.weight", TensorKind::Parameter, "cpu", 9),
                    record("lm_head.weight", TensorKind::Parameter, "cpu", 10)});
  CheckContext broken{untied, "materialize", 0};
  broken.ledger = &ledger;
  auto findings = run_one("tied-weights-broken", broken);
  REQUIRE(findings.size() == 1);
  CHECK(*findings[0].tensor == "lm_head.weight");
  CHECK(findings[0].message.find("wte.weight") != std::string::npos);
}

TEST_CASE("mixed-devices: within a module, and against the target device", "[checks]") {
  auto a = record("block.weight");
  auto b = record("block.bias");
  auto c = record("block.scale", TensorKind::Parameter, "cuda:0");
  Inventory inventory({a, b, c});
  CheckContext context{inventory, "before-forward", 0};
  auto findings = run_one("mixed-devices", context);
  REQUIRE(findings.size() == 1);
  CHECK(*findings[0].tensor == "block.scale");

  Inventory together({a, b});
  CheckContext same{together, "before-forward", 0};
  CHECK(run_one("mixed-devices", same).empty());
  same.target_device = "cuda:0";
  CHECK(run_one("mixed-devices", same).size() == 2);
}

TEST_CASE("optimizer-stale-reference: replaced and meta tensors", "[checks]") {
  auto live = record("lora_A");
  auto meta = record("lora_B", TensorKind::Parameter, "meta");
  Inventory inventory({live, meta});
  std::vector<OptimizerEntry> optimizer = {
      {"param_groups[0][0]", "lora_A", live.tensor_key, "cpu"},
      {"param_groups[0][1]", "lora_B", meta.tensor_key, "meta"},
  };
  CheckContext context{inventory, "before-forward", 0};
  context.optimizer = &optimizer;
  auto findings = run_one("optimizer-stale-reference", context);
  REQUIRE(findings.size() == 1);
  CHECK(*findings[0].tensor == "lora_B");

  optimizer[0].tensor_key = 123456789;  // a tensor the model no longer has
  findings = run_one("optimizer-stale-reference", context);
  REQUIRE(findings.size() == 2);
  CHECK(*findings[0].tensor == "lora_A");
  CHECK(findings[0].message.find("param_groups[0][0]") != std::string::npos);
}

TEST_CASE("rank-divergence: state, shape and content against rank 0", "[checks]") {
  auto r0 = record("w");
  r0.content_hash = 1;
  auto same = r0;
  auto other_content = r0;
  other_content.content_hash = 2;
  auto still_meta = r0;
  still_meta.device = "meta";
  still_meta.content_hash.reset();

  Inventory rank0({r0});
  std::vector<const Inventory*> ranks{&rank0};
  for (const auto& [record_on_rank1, expect] :
       std::vector<std::pair<TensorRecord, size_t>>{{same, 0}, {other_content, 1}, {still_meta, 1}}) {
    Inventory rank1({record_on_rank1});
    CheckContext context{rank1, "broadcast", 1, DataNeeds::none()};
    context.ranks = &ranks;
    auto findings = run_one("rank-divergence", context);
    CHECK(findings.size() == expect);
    if (!findings.empty()) CHECK(findings[0].rank == std::optional<int>(1));
  }
  // Where data is needed, a meta tensor is the meta checks' finding, not a divergence.
  Inventory rank1_meta({still_meta});
  CheckContext needs_data{rank1_meta, "broadcast", 1, DataNeeds::all()};
  needs_data.ranks = &ranks;
  CHECK(run_one("rank-divergence", needs_data).empty());
  CheckContext on_rank0{rank0, "broadcast", 0};
  on_rank0.ranks = &ranks;
  CHECK(run_one("rank-divergence", on_rank0).empty());
}

TEST_CASE("lora-trainability warns about trainable base and frozen LoRA weights", "[checks]") {
  auto base = record("attn.weight");
  base.requires_grad = true;
  auto lora = record("attn.lora_A");
  lora.requires_grad = false;
  auto good_lora = record("attn.lora_B");
  good_lora.requires_grad = true;
  Inventory inventory({base, lora, good_lora});
  CheckContext context{inventory, "before-forward", 0};
  CHECK(run_one("lora-trainability", context).empty());  // not a LoRA run
  context.lora_run = true;
  auto findings = run_one("lora-trainability", context);
  REQUIRE(findings.size() == 2);
  for (const auto& f : findings) CHECK(f.severity == Severity::Warning);
}

TEST_CASE("allow globs turn matching findings into counted info", "[checks]") {
  Inventory inventory({record("offload.weight", TensorKind::Parameter, "meta"),
                       record("other.weight", TensorKind::Parameter, "meta")});
  CheckContext context{inventory, "before-forward", 0};
  auto findings = run_checks(context);
  REQUIRE(findings.size() == 2);
  apply_allow_globs(findings, {"offload.*"});
  Report report;
  report.findings = findings;
  auto summary = report.summary();
  CHECK(summary.allowed == 1);
  CHECK(summary.errors == 1);
}

TEST_CASE("findings carry their check's repair: meta ones are materialized, garbage refilled", "[checks]") {
  auto garbage = record("rope.cos", TensorKind::NonpersistentBuffer);
  garbage.uninitialized = true;
  garbage.derived = true;
  Inventory inventory({record("a.weight", TensorKind::Parameter, "meta"), garbage});
  CheckContext context{inventory, "before-forward", 0};
  std::vector<Finding> findings = run_checks(context);
  REQUIRE(findings.size() == 2);
  for (const auto& finding : findings) {
    INFO(finding.code);
    if (finding.code == "meta-parameter") CHECK(finding.repair == RepairKind::Materialize);
    if (finding.code == "uninitialized-storage") CHECK(finding.repair == RepairKind::Refill);
  }
  CHECK(find_check("mixed-devices")->repair() == RepairKind::None);
  CHECK(find_check("mixed-devices")->no_repair_reason().find("move the whole model") != std::string_view::npos);
  CHECK(find_check("tied-weights-broken")->repair() == RepairKind::Retie);
  CHECK(find_check("rank-divergence")->repair() == RepairKind::Rebroadcast);
}
