#include "report/text_renderer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)

#include "report/escaping.hpp"
#include "report/finding_groups.hpp"

namespace metaguard {
namespace {

void render_finding(const Finding& f, std::string& out) {
  std::string where;
  if (f.rank) where += fmt::format(" rank {}", *f.rank);
  if (f.phase) where += fmt::format(" at {}", *f.phase);
  out += fmt::format("  {}{} [{}] {}{}\n", to_string(f.severity), f.repaired ? " (repaired)" : "", f.code,
                     printable_text(f.tensor.value_or("(model)")), where);
  out += fmt::format("      {}\n", printable_text(f.message));
  if (!f.hint.empty()) out += fmt::format("      fix: {}\n", printable_text(f.hint));
}

}  // namespace

std::string human_bytes(int64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string summary_line(const Summary& summary) {
  std::string devices;
  for (const auto& [device, bytes] : summary.bytes_by_device) {
    devices += fmt::format("{}{} {}", devices.empty() ? "" : ", ", device, human_bytes(bytes));
  }
  return fmt::format(
      "SUMMARY: {} tensors, {} meta, {} errors, {} warnings, {} repaired, {} allowed{}{}",
      summary.tensors, summary.meta, summary.errors, summary.warnings, summary.repaired,
      summary.allowed, devices.empty() ? "" : "; bytes: ", devices);
}

std::string TextRenderer::render(const Report& report) const {
  std::string out = fmt::format("metaguard {}: {}\n", report.command, printable_text(report.source));

  if (report.command == "scan") {
    out += fmt::format("\n{} tensors:\n", report.tensors.size());
    for (const auto& t : report.tensors) {
      out += fmt::format("  {}  {} {} {}  storage {} offset {}{}  {}\n", printable_text(t.name), t.dtype,
                         shape_text(t.shape), t.device, t.storage.value_or("-"), t.storage_offset,
                         t.contiguous ? "" : " non-contiguous", human_bytes(t.nbytes));
    }
  }

  if (!report.memory.empty()) {
    std::string precision;  // preflight's --precision, when the report says
    if (report.extra.contains("preflight") && report.extra["preflight"].is_object()) {
      auto it = report.extra["preflight"].find("precision");
      if (it != report.extra["preflight"].end() && it->is_string()) precision = " at " + it->get<std::string>();
    }
    out += fmt::format("\nmemory per rank and device{} (weights + gradients + AdamW state of trainable tensors):\n",
                       precision);
    for (const auto& row : report.memory) {
      std::string more;
      if (row.gathered_bytes) more += fmt::format(", {} gathered", human_bytes(row.gathered_bytes));
      if (row.activation_bytes) more += fmt::format(", {} activations", human_bytes(row.activation_bytes));
      out += fmt::format("  rank {} {}: {} total ({} weights, {} gradients, {} optimizer{})\n", row.rank, row.device,
                         human_bytes(row.total_bytes()), human_bytes(row.weight_bytes), human_bytes(row.gradient_bytes),
                         human_bytes(row.optimizer_bytes), more);
    }
  }
  if (!report.shards.empty()) {
    out += fmt::format("\nshards of the frozen weights over {} ranks:\n", report.shards.size());
    for (const auto& row : report.shards) {
      out += fmt::format("  rank {}: {} elements of {} tensors ({}){}\n", row.rank, row.elements, row.tensors,
                         human_bytes(row.bytes),
                         row.empty.empty() ? "" : fmt::format("; empty: {}", fmt::join(row.empty, ", ")));
    }
  }
  if (report.parameters) {
    const ParameterCounts& p = *report.parameters;
    out += fmt::format("\nparameters: {} trainable, {} frozen ({} tensors trainable, {} frozen)\n", p.trainable_numel,
                       p.frozen_numel, p.trainable_tensors, p.frozen_tensors);
  }

  if (report.training) {
    const TrainingInfo& t = *report.training;
    out += fmt::format("\ntraining: world size {}, {} steps, global batch {}, sequence {}{}\n", t.world_size, t.steps,
                       t.global_batch, t.seq_len,
                       t.device.empty() ? "" : fmt::format(", on {} with {}{}", t.device, t.backend, t.strategy == "shard" ? ", weights sharded" : ""));
    if (t.final_loss) out += fmt::format("  final loss {:.4f}, {:.0f} tokens/s\n", *t.final_loss, t.tokens_per_s);
    if (t.stopped) {
      out += fmt::format("  stopped at {}{}: {}\n", t.stopped->phase,
                         t.stopped->rank ? fmt::format(" on rank {}", *t.stopped->rank) : "",
                         t.stopped->reason);
    }
  }

  if (report.findings.empty()) {
    out += "\nno findings\n";
  } else if (verbose_) {
    out += fmt::format("\n{} findings:\n", report.findings.size());
    for (const auto& f : report.findings) render_finding(f, out);
  } else {
    const auto groups = group_findings(report.findings, report_world_size(report));
    out += fmt::format("\n{}{}:\n", findings_heading(report.findings.size(), groups.size()),
                       groups.size() == report.findings.size() ? "" : " (--verbose lists each)");
    for (const auto& group : groups) {
      if (group.size() == 1) {
        render_finding(*group.first, out);
        continue;
      }
      const Finding& f = *group.first;
      std::string where;
      if (!group.ranks_text.empty()) where += " on " + group.ranks_text;
      if (f.phase) where += fmt::format(" at {}", *f.phase);
      out += fmt::format("  {}{} [{}] {}{} ({} findings)\n", to_string(f.severity), f.repaired ? " (repaired)" : "",
                         f.code, printable_text(group.tensor_pattern.empty() ? "(model)" : group.tensor_pattern), where,
                         group.size());
      out += fmt::format("      {}\n", printable_text(group.message));
      if (!f.hint.empty()) out += fmt::format("      fix: {}\n", printable_text(f.hint));
    }
  }
  out += "\n" + summary_line(report.summary()) + "\n";
  return out;
}

}  // namespace metaguard
