#include <catch2/catch.hpp>
#include <rapidcheck/catch.h>

#include "core/errors.hpp"
#include "explain/report_diff.hpp"
#include "report_fixtures.hpp"

using namespace metaguard;
using metaguard::test::event;
using metaguard::test::finding;
using metaguard::test::tensor;

namespace {

const TensorChange* change_of(const ReportDiff& diff, const std::string& name) {
  for (const auto& c : diff.changed) {
    if (c.tensor == name) return &c;
  }
  return nullptr;
}

const FieldChange* field_of(const TensorChange& change, const std::string& field) {
  for (const auto& f : change.changes) {
    if (f.field == field) return &f;
  }
  return nullptr;
}

Report good_rank() {
  Report report;
  report.command = "train";
  report.source = "micro";
  auto wte = tensor("transformer.wte.weight", "cpu", TensorKind::Parameter,
                    {event("init", "created", "meta"), event("load", "loaded", "cpu", "rank 0 detail")});
  wte.storage = "s1";
  auto head = tensor("lm_head.weight", "cpu");
  head.storage = "s1";  // tied to the embedding
  report.tensors = {wte, head, tensor("ln_f.weight"), tensor("only.here")};
  return report;
}

}  // namespace

TEST_CASE("report diff: a report against itself is identical", "[explain][diff]") {
  Report a = good_rank();
  ReportDiff diff = diff_reports(a, a, "a.json", "a.json");
  CHECK(diff.identical());
  CHECK(diff.exit_code() == 0);
  CHECK(render_diff(diff, "text").find("no differences") != std::string::npos);
}

TEST_CASE("report diff: state, sharing and provenance differences", "[explain][diff]") {
  Report a = good_rank();
  Report b = good_rank();
  b.tensors.pop_back();                           // only.here: only in A
  b.tensors.push_back(tensor("new.tensor"));      // only in B
  b.tensors[0].storage = "s9";                    // renamed ids, same sharing: no difference
  b.tensors[1].storage = "s9";
  b.tensors[0].provenance[1].detail = "other rank detail";  // details are not compared
  b.tensors[2].device = "meta";
  b.tensors[2].storage.reset();
  b.tensors[2].provenance = {event("init", "created", "meta")};
  b.tensors[2].requires_grad.reset();
  ReportDiff diff = diff_reports(a, b, "A", "B");
  CHECK_FALSE(diff.identical());
  CHECK(diff.exit_code() == 1);
  CHECK(diff.only_in_a == std::vector<std::string>{"only.here"});
  CHECK(diff.only_in_b == std::vector<std::string>{"new.tensor"});
  REQUIRE(diff.changed.size() == 1);
  const TensorChange* ln = change_of(diff, "ln_f.weight");
  REQUIRE(ln != nullptr);
  CHECK(field_of(*ln, "device")->a == "cpu");
  CHECK(field_of(*ln, "device")->b == "meta");
  CHECK(field_of(*ln, "storage")->a == "own storage");
  CHECK(field_of(*ln, "storage")->b == "no storage");
  CHECK(field_of(*ln, "requires_grad")->b == "unknown");
  CHECK(field_of(*ln, "provenance")->a == "(none)");
  CHECK(field_of(*ln, "provenance")->b == "init: created (meta)");
  CHECK(field_of(*ln, "dtype") == nullptr);

  // Untying: the same names, now two storages.
  Report untied = good_rank();
  untied.tensors[1].storage = "s2";
  ReportDiff tie = diff_reports(a, untied, "A", "B");
  REQUIRE(tie.changed.size() == 2);
  CHECK(field_of(*change_of(tie, "lm_head.weight"), "storage")->a == "shared with transformer.wte.weight");
  CHECK(field_of(*change_of(tie, "lm_head.weight"), "storage")->b == "own storage");
}

TEST_CASE("report diff: a large sharing group compares exactly without listing everyone", "[explain][diff]") {
  Report a;
  for (int i = 0; i < 2000; ++i) {
    auto t = tensor("flat.view" + std::to_string(i));
    t.storage = "flat";
    a.tensors.push_back(t);
  }
  Report b = a;
  CHECK(diff_reports(a, b, "A", "B").identical());
  b.tensors[1999].storage = "elsewhere";  // one view leaves the group: every member's group changed
  ReportDiff diff = diff_reports(a, b, "A", "B");
  CHECK(diff.changed.size() == 2000);
  const FieldChange* first = field_of(*change_of(diff, "flat.view0"), "storage");
  REQUIRE(first != nullptr);
  CHECK(first->a.rfind("one of 2000 tensors sharing a storage (flat.view0, flat.view1, ...; members ", 0) == 0);
  CHECK(first->b.rfind("one of 1999 tensors sharing a storage (flat.view0, flat.view1, ...; members ", 0) == 0);
  CHECK(first->a.size() < 200);
  CHECK(field_of(*change_of(diff, "flat.view1999"), "storage")->b == "own storage");
}

TEST_CASE("report diff: findings compared without rank or message", "[explain][diff]") {
  Report a = good_rank();
  Report b = good_rank();
  a.findings = {finding("meta-parameter", "ln_f.weight", Severity::Error, 0)};
  b.findings = {finding("meta-parameter", "ln_f.weight", Severity::Error, 1),
                finding("meta-buffer", "ln_f.weight", Severity::Error, 1)};
  b.findings[0].message = "rank 1 says it differently";
  ReportDiff diff = diff_reports(a, b, "A", "B");
  CHECK(diff.findings_only_in_a.empty());
  REQUIRE(diff.findings_only_in_b.size() == 1);
  CHECK(diff.findings_only_in_b[0].code == "meta-buffer");

  std::string text = render_diff(diff, "text");
  CHECK(text.find("findings only in B (1):\n  error [meta-buffer] ln_f.weight at before-forward:") != std::string::npos);
  CHECK(text.find("DIFF: 0 tensors differ, 0 only in A, 0 only in B; 0 findings only in A, 1 only in B") !=
        std::string::npos);
  auto json = nlohmann::json::parse(render_diff(diff, "json"));
  CHECK(json["schema"] == "metaguard.diff/1");
  CHECK(json["identical"] == false);
  CHECK(json["findings_only_in_b"][0]["code"] == "meta-buffer");
  CHECK_THROWS_AS(render_diff(diff, "md"), InputError);
}

TEST_CASE("report diff: properties", "[explain][diff][property]") {
  auto gen_report = [] {
    auto name = rc::gen::element<std::string>("a", "b", "c.0.w", "c.1.w", "d");
    auto device = rc::gen::element<std::string>("cpu", "meta", "cuda:0");
    Report report;
    std::set<std::string> used;
    for (const auto& n : *rc::gen::container<std::vector<std::string>>(name)) {
      if (!used.insert(n).second) continue;
      auto t = tensor(n, *device);
      if (*rc::gen::arbitrary<bool>()) t.provenance.push_back(event("init", "created", *device));
      t.uninitialized = *rc::gen::arbitrary<bool>();
      report.tensors.push_back(t);
    }
    return report;
  };
  rc::prop("a report never differs from itself", [&] {
    Report a = gen_report();
    RC_ASSERT(diff_reports(a, a, "x", "x").identical());
  });
  rc::prop("swapping A and B swaps the sides", [&] {
    Report a = gen_report();
    Report b = gen_report();
    ReportDiff ab = diff_reports(a, b, "a", "b");
    ReportDiff ba = diff_reports(b, a, "b", "a");
    RC_ASSERT(ab.only_in_a == ba.only_in_b);
    RC_ASSERT(ab.only_in_b == ba.only_in_a);
    RC_ASSERT(ab.changed.size() == ba.changed.size());
    for (const auto& change : ab.changed) {
      const TensorChange* mirror = change_of(ba, change.tensor);
      RC_ASSERT(mirror != nullptr);
      RC_ASSERT(mirror->changes.size() == change.changes.size());
      for (size_t i = 0; i < change.changes.size(); ++i) {
        RC_ASSERT(mirror->changes[i].a == change.changes[i].b);
        RC_ASSERT(mirror->changes[i].b == change.changes[i].a);
      }
    }
  });
}
