#include "report/junit_renderer.hpp"

#include <map>
#include <set>

#include <fmt/format.h>

#include "report/finding_groups.hpp"

namespace metaguard {
namespace {

constexpr const char* kModelCase = "(model)";

std::string where(const Finding& finding) { return where_text(finding.rank, finding.phase.value_or("")); }

std::string finding_note(const Finding& finding) {
  std::string status = finding.repaired ? "repaired" : std::string(to_string(finding.severity));
  if (finding.allowed) status = "allowed";
  std::string out = fmt::format("{} [{}]{}: {}\n", status, finding.code, where(finding), finding.message);
  if (!finding.hint.empty() && !finding.repaired) out += fmt::format("  fix: {}\n", finding.hint);
  return out;
}

JUnitCase problem_case(const std::string& classname, const std::string& name, const FindingGroup& group,
                       const std::vector<const Finding*>& findings) {
  JUnitCase c;
  c.name = name;
  c.classname = classname;
  const Finding& first = *group.first;
  if (!first.is_open_error()) {  // a group shares severity and state: all open errors or none
    for (const Finding* finding : findings) c.system_out += finding_note(*finding);
    return c;
  }
  JUnitFailure failure;
  failure.type = first.code;
  failure.message = group.message;
  for (const Finding* finding : findings) failure.text += finding_note(*finding);
  c.failure = std::move(failure);
  return c;
}

}  // namespace

JUnitSuite junit_suite(const Report& report) {
  JUnitSuite suite;
  suite.name = report.source.empty() ? report.command : report.command + " " + report.source;
  Summary summary = report.summary();
  suite.properties = {
      {"command", report.command},
      {"source", report.source},
      {"tensors", std::to_string(summary.tensors)},
      {"meta", std::to_string(summary.meta)},
      {"errors", std::to_string(summary.errors)},
      {"warnings", std::to_string(summary.warnings)},
      {"repaired", std::to_string(summary.repaired)},
      {"allowed", std::to_string(summary.allowed)},
  };
  if (report.extra.contains("rank") && report.extra["rank"].is_number_integer()) {
    suite.properties.emplace_back("rank", std::to_string(report.extra["rank"].get<int64_t>()));
  }
  if (report.training) {
    const TrainingInfo& t = *report.training;
    suite.properties.emplace_back("world_size", std::to_string(t.world_size));
    suite.properties.emplace_back("steps", std::to_string(t.steps));
    if (t.final_loss) suite.properties.emplace_back("final_loss", fmt::format("{:.6g}", *t.final_loss));
    if (t.stopped) {
      suite.properties.emplace_back(
          "stopped", fmt::format("{}{}: {}", t.stopped->phase,
                                 t.stopped->rank ? fmt::format(" on rank {}", *t.stopped->rank) : "",
                                 t.stopped->reason));
    }
  }

  // One case per problem (a group of findings, finding_groups.hpp), so a CI page shows one
  // failure per problem however many layers and ranks it touches; then one passing case per
  // tensor no finding names, in the report's order.
  std::string classname = "metaguard." + report.command;
  std::set<std::string> named;
  for (const auto& group : group_findings(report.findings, report_world_size(report))) {
    std::vector<const Finding*> members;
    for (size_t index : group.members) members.push_back(&report.findings[index]);
    for (const auto& tensor : group.tensors) named.insert(tensor);
    std::string name = fmt::format("{} [{}]", group.tensor_pattern.empty() ? kModelCase : group.tensor_pattern,
                                   group.first->code);
    if (!group.ranks_text.empty() && group.size() > 1) name += " on " + group.ranks_text;
    suite.cases.push_back(problem_case(classname, name, group, members));
  }
  std::set<std::string> seen;
  for (const auto& tensor : report.tensors) {
    if (named.count(tensor.name) || !seen.insert(tensor.name).second) continue;
    JUnitCase c;
    c.name = tensor.name;
    c.classname = classname;
    suite.cases.push_back(std::move(c));
  }
  return suite;
}

std::string JUnitRenderer::render(const Report& report) const {
  return write_junit("metaguard", {junit_suite(report)});
}

}  // namespace metaguard
