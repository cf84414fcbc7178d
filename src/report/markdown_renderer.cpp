#include "report/markdown_renderer.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)

#include "report/escaping.hpp"
#include "report/finding_groups.hpp"
#include "report/tensor_state.hpp"
#include "report/text_renderer.hpp"

namespace metaguard {
namespace {

using nlohmann::json;

std::string table_row(const std::vector<std::string>& cells) {
  return fmt::format("| {} |\n", fmt::join(cells, " | "));
}

std::string table_head(const std::vector<std::string>& names, const std::string& numeric_columns = "") {
  std::vector<std::string> rules;
  for (size_t i = 0; i < names.size(); ++i) {
    rules.push_back(i < numeric_columns.size() && numeric_columns[i] == 'r' ? "---:" : "---");
  }
  return table_row(names) + table_row(rules);
}

std::string provenance_text(const TensorRecord& tensor) {
  if (tensor.provenance.empty()) return "";
  std::vector<std::string> steps;
  for (const auto& event : tensor.provenance) {
    steps.push_back(fmt::format("{}: {} ({})", event.phase, event.event, event.device));
  }
  return fmt::format("{}", fmt::join(steps, " → "));
}

std::string verdict(const Summary& summary) {
  if (summary.errors > 0) {
    return fmt::format("**{} error{} remain{}** (exit 1)", summary.errors,
                       summary.errors == 1 ? "" : "s", summary.errors == 1 ? "s" : "");
  }
  return "**No error remains** (exit 0)";
}

// One row per problem (finding_groups.hpp); a problem of one finding reads as that finding.
void render_findings(const Report& report, std::string& out) {
  const auto groups = group_findings(report.findings, report_world_size(report));
  if (groups.size() == report.findings.size()) {
    out += fmt::format("\n## Findings ({})\n\n", report.findings.size());
  } else {
    out += fmt::format("\n## Findings ({})\n\n", findings_heading(report.findings.size(), groups.size()));
  }
  if (report.findings.empty()) {
    out += "No findings.\n";
    return;
  }
  out += table_head({"severity", "code", "tensor", "rank", "phase", "message", "fix"});
  for (const auto& group : groups) {
    const Finding& f = *group.first;
    std::string severity(to_string(f.severity));
    if (f.repaired) severity += " (repaired)";
    if (f.allowed) severity += " (allowed)";
    const bool one = group.size() == 1;
    std::string tensor = group.tensor_pattern.empty() ? "(model)" : markdown_code_cell(group.tensor_pattern);
    if (!one) tensor += fmt::format(" ({} findings)", group.size());
    std::string rank = one ? (f.rank ? std::to_string(*f.rank) : "") : escape_markdown(group.ranks_text);
    out += table_row({severity, markdown_code_cell(f.code), tensor, rank, escape_markdown(f.phase.value_or("")),
                      escape_markdown(group.message), escape_markdown(f.hint)});
  }
}

void render_training(const TrainingInfo& t, std::string& out) {
  out += "\n## Training\n\n";
  out += table_head({"world size", "steps", "global batch", "sequence", "final loss", "tokens/s"}, "rrrrrr");
  out += table_row({std::to_string(t.world_size), std::to_string(t.steps), std::to_string(t.global_batch),
                    std::to_string(t.seq_len), t.final_loss ? fmt::format("{:.4f}", *t.final_loss) : "",
                    fmt::format("{:.0f}", t.tokens_per_s)});
  if (!t.device.empty()) out += fmt::format("\nRan on {} with {} collectives.\n", t.device, t.backend);
  if (t.stopped) {
    out += fmt::format("\n**Stopped** at {}{}: {}\n", escape_markdown(t.stopped->phase),
                       t.stopped->rank ? fmt::format(" on rank {}", *t.stopped->rank) : "",
                       escape_markdown(t.stopped->reason));
  }
  std::vector<double> finite;
  for (double loss : t.losses) {
    if (std::isfinite(loss)) finite.push_back(loss);
  }
  if (!finite.empty()) {
    out += fmt::format("\nTraining loss: {:.4f} at the first step, {:.4f} at the last, lowest {:.4f}",
                       finite.front(), finite.back(), *std::min_element(finite.begin(), finite.end()));
    if (finite.size() != t.losses.size()) {
      out += fmt::format(" ({} steps had a non-finite loss)", t.losses.size() - finite.size());
    }
    out += ".\n";
  }
  if (!t.val_losses.empty()) {
    out += "\n" + table_head({"step", "validation loss"}, "rr");
    for (const auto& val : t.val_losses) {
      out += table_row({std::to_string(val.step), fmt::format("{:.4f}", val.loss)});
    }
  }
}

void render_extra(const Report& report, std::string& out) {
  if (!report.memory.empty()) {
    const MemoryColumns optional = memory_columns(report.memory);
    std::vector<std::string> names = {"rank", "device", "weights", "gradients", "optimizer"};
    if (optional.gathered) names.push_back("gathered");
    if (optional.activations) names.push_back("activations");
    names.push_back("total");
    out += "\n## Memory per rank and device\n\n";
    out += table_head(names, "rl" + std::string(names.size() - 2, 'r'));
    for (const auto& row : report.memory) {
      std::vector<std::string> cells = {std::to_string(row.rank), markdown_code_cell(row.device),
                                        human_bytes(row.weight_bytes), human_bytes(row.gradient_bytes),
                                        human_bytes(row.optimizer_bytes)};
      if (optional.gathered) cells.push_back(human_bytes(row.gathered_bytes));
      if (optional.activations) cells.push_back(human_bytes(row.activation_bytes));
      cells.push_back(human_bytes(row.total_bytes()));
      out += table_row(cells);
    }
  }
  if (!report.shards.empty()) {
    out += "\n## Shards of the frozen weights\n\n";
    out += table_head({"rank", "tensors", "elements", "bytes", "empty shards"}, "rrrrl");
    for (const auto& row : report.shards) {
      std::vector<std::string> empty;
      for (const auto& name : row.empty) empty.push_back(markdown_code_cell(name));
      out += table_row({std::to_string(row.rank), std::to_string(row.tensors), std::to_string(row.elements),
                        human_bytes(row.bytes), fmt::format("{}", fmt::join(empty, " "))});
    }
  }
  if (report.parameters) {
    const ParameterCounts& p = *report.parameters;
    out += "\n## Parameters\n\n";
    out += table_head({"", "elements", "tensors"}, "lrr");
    out += table_row({"trainable", std::to_string(p.trainable_numel), std::to_string(p.trainable_tensors)});
    out += table_row({"frozen", std::to_string(p.frozen_numel), std::to_string(p.frozen_tensors)});
  }
}

void render_tensors(const Report& report, std::string& out) {
  out += fmt::format("\n## Tensors ({})\n\n", report.tensors.size());
  if (report.tensors.empty()) {
    out += "No tensors listed.\n";
    return;
  }
  auto states = tensor_states(report);
  bool with_provenance = false;
  for (const auto& t : report.tensors) with_provenance = with_provenance || !t.provenance.empty();
  std::vector<std::string> head = {"tensor", "state", "kind", "dtype", "shape", "device", "storage", "bytes"};
  if (with_provenance) head.push_back("provenance");
  out += table_head(head, "lllllllr");
  for (const auto& t : report.tensors) {
    std::vector<std::string> row = {markdown_code_cell(t.name), std::string(to_string(states.at(t.name))),
                                    std::string(to_string(t.kind)), markdown_code_cell(t.dtype),
                                    shape_text(t.shape), markdown_code_cell(t.device),
                                    t.storage ? markdown_code_cell(*t.storage) : "", human_bytes(t.nbytes)};
    if (with_provenance) row.push_back(escape_markdown(provenance_text(t)));
    out += table_row(row);
  }
}

}  // namespace

std::string MarkdownRenderer::render(const Report& report) const {
  Summary summary = report.summary();
  std::string out = fmt::format("# metaguard {}: {}\n\n", escape_markdown(report.command),
                                escape_markdown(report.source));
  if (report.extra.contains("rank") && report.extra["rank"].is_number_integer()) {
    out += fmt::format("Rank {} of the run.\n\n", report.extra["rank"].get<int64_t>());
  }
  out += verdict(summary) + "\n\n";
  out += table_head({"tensors", "meta", "errors", "warnings", "repaired", "allowed"}, "rrrrrr");
  out += table_row({std::to_string(summary.tensors), std::to_string(summary.meta),
                    std::to_string(summary.errors), std::to_string(summary.warnings),
                    std::to_string(summary.repaired), std::to_string(summary.allowed)});
  render_findings(report, out);
  if (report.training) render_training(*report.training, out);
  render_extra(report, out);
  render_tensors(report, out);
  // Device names come from the report: escaped like everything else; "SUMMARY:" stays greppable.
  out += "\n" + escape_markdown(summary_line(summary)) + "\n";
  return out;
}

}  // namespace metaguard
