#include "report/junit_renderer.hpp"

#include <map>
#include <set>

#include <fmt/format.h>

namespace metaguard {
namespace {

constexpr const char* kModelCase = "(model)";

std::string where(const Finding& finding) {
  std::string out;
  if (finding.rank) out += fmt::format(" on rank {}", *finding.rank);
  if (finding.phase) out += fmt::format(" at {}", *finding.phase);
  return out;
}

bool is_open_error(const Finding& finding) {
  return finding.severity == Severity::Error && !finding.repaired && !finding.allowed;
}

std::string finding_note(const Finding& finding) {
  std::string status = finding.repaired ? "repaired" : std::string(to_string(finding.severity));
  if (finding.allowed) status = "allowed";
  std::string out = fmt::format("{} [{}]{}: {}\n", status, finding.code, where(finding), finding.message);
  if (!finding.hint.empty() && !finding.repaired) out += fmt::format("  fix: {}\n", finding.hint);
  return out;
}

JUnitCase tensor_case(const std::string& classname, const std::string& name,
                      const std::vector<const Finding*>& findings) {
  JUnitCase c;
  c.name = name;
  c.classname = classname;
  std::vector<const Finding*> errors;
  for (const Finding* finding : findings) {
    if (is_open_error(*finding)) {
      errors.push_back(finding);
    } else {
      c.system_out += finding_note(*finding);
    }
  }
  if (errors.empty()) return c;
  JUnitFailure failure;
  std::set<std::string> codes;
  for (const Finding* finding : errors) {
    codes.insert(finding->code);
    failure.text += finding_note(*finding);
  }
  failure.type = fmt::format("{}", fmt::join(codes, ","));
  failure.message = errors.size() == 1
                        ? errors.front()->message
                        : fmt::format("{} errors: {}", errors.size(), failure.type);
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

  // Cases in a stable order: the report's tensors as listed, then the rest by name.
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& tensor : report.tensors) {
    if (seen.insert(tensor.name).second) names.push_back(tensor.name);
  }
  std::set<std::string> finding_only;
  bool model_findings = false;
  std::map<std::string, std::vector<const Finding*>> by_tensor;
  for (const auto& finding : report.findings) {
    std::string name = finding.tensor.value_or(kModelCase);
    if (!finding.tensor) model_findings = true;
    if (finding.tensor && !seen.count(name)) finding_only.insert(name);
    by_tensor[name].push_back(&finding);
  }
  names.insert(names.end(), finding_only.begin(), finding_only.end());
  if (model_findings) names.push_back(kModelCase);

  std::string classname = "metaguard." + report.command;
  for (const auto& name : names) suite.cases.push_back(tensor_case(classname, name, by_tensor[name]));
  return suite;
}

std::string JUnitRenderer::render(const Report& report) const {
  return write_junit("metaguard", {junit_suite(report)});
}

}  // namespace metaguard
