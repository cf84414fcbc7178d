#include <catch2/catch.hpp>

#include "report/tensor_state.hpp"
#include "report_fixtures.hpp"

using namespace metaguard;
using metaguard::test::finding;
using metaguard::test::tensor;

TEST_CASE("report tensor states: one per tensor, by precedence", "[report][state]") {
  Report report;
  report.tensors.push_back(tensor("fine"));
  report.tensors.push_back(tensor("on_meta", "meta"));
  auto garbage = tensor("garbage");
  garbage.uninitialized = true;
  report.tensors.push_back(garbage);
  report.tensors.push_back(tensor("fixed"));
  report.tensors.push_back(tensor("expected_meta", "meta"));
  report.tensors.push_back(tensor("stale"));

  Finding fixed = finding("meta-parameter", "fixed");
  fixed.repaired = true;
  report.findings.push_back(fixed);
  Finding allowed = finding("meta-parameter", "expected_meta", Severity::Info);
  allowed.allowed = true;
  report.findings.push_back(allowed);
  report.findings.push_back(finding("stale-derived-buffer", "stale"));
  report.findings.push_back(finding("meta-parameter", "on_meta"));
  report.findings.push_back(finding("missing-key", "only_in_findings"));
  report.findings.push_back(finding("unexpected-key", "note", Severity::Info));

  auto states = tensor_states(report);
  CHECK(states.at("fine") == TensorState::Materialized);
  CHECK(states.at("on_meta") == TensorState::Meta);
  CHECK(states.at("garbage") == TensorState::Uninitialized);
  CHECK(states.at("fixed") == TensorState::Repaired);
  CHECK(states.at("expected_meta") == TensorState::Allowed);  // allowed wins over meta
  CHECK(states.at("stale") == TensorState::Flagged);
  CHECK(states.at("only_in_findings") == TensorState::Flagged);
  CHECK(states.at("note") == TensorState::Materialized);  // info alone flags nothing
  CHECK(states.size() == 8);
}

TEST_CASE("report tensor states: an open error outranks a repair on the same tensor", "[report][state]") {
  Report report;
  report.tensors.push_back(tensor("w"));
  Finding fixed = finding("meta-parameter", "w");
  fixed.repaired = true;
  report.findings.push_back(fixed);
  report.findings.push_back(finding("rank-divergence", "w"));
  CHECK(tensor_states(report).at("w") == TensorState::Flagged);
  CHECK(to_string(TensorState::Flagged) == "flagged");
  CHECK(severity_rank(TensorState::Meta) > severity_rank(TensorState::Materialized));
}
