#include "report/html_renderer.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "report/escaping.hpp"
#include "report/finding_groups.hpp"
#include "report/html_charts.hpp"
#include "report/module_tree.hpp"
#include "report/tensor_state.hpp"
#include "report/text_renderer.hpp"

namespace metaguard {
namespace {

using nlohmann::json;

std::string text(std::string_view s) { return escape_xml_text(s); }
std::string attr(std::string_view s) { return escape_xml_attribute(s); }

constexpr const char* kStyle = R"css(
:root { --meta:#d1495b; --uninitialized:#ed8b2f; --flagged:#9b3dae; --repaired:#2f7ed8;
        --allowed:#8a94a6; --materialized:#2a9d6f; --ink:#1d2330; --muted:#667085; --line:#d8dde6; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f5f7fa; }
main { max-width: 1120px; margin: 0 auto; padding: 24px; }
header.top { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 20px 24px; }
h1 { margin: 0 0 4px; font-size: 24px; }
h1 .command { color: var(--muted); font-weight: 500; }
h2 { font-size: 19px; margin: 0 0 12px; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 13px; }
.source { color: var(--muted); word-break: break-all; margin: 0 0 12px; }
.verdict { display: inline-block; padding: 6px 14px; border-radius: 999px; font-weight: 600; color: #fff; }
.verdict.fail { background: var(--meta); } .verdict.pass { background: var(--materialized); }
.counts { display: flex; flex-wrap: wrap; gap: 10px; list-style: none; padding: 0; margin: 14px 0 0; }
.counts li { background: #f0f2f6; border-radius: 8px; padding: 6px 12px; }
.counts b { font-size: 18px; margin-right: 4px; }
nav { margin: 14px 0 0; } nav a { margin-right: 14px; color: var(--repaired); }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 20px 24px; margin-top: 18px; }
.finding { border-left: 5px solid var(--muted); padding: 10px 14px; margin: 0 0 14px; background: #fafbfc; border-radius: 0 8px 8px 0; }
.finding.error { border-color: var(--meta); } .finding.warning { border-color: var(--uninitialized); }
.finding.info { border-color: var(--allowed); } .finding.repaired { border-color: var(--repaired); }
.finding .head { display: flex; flex-wrap: wrap; gap: 8px; align-items: baseline; }
.sev { text-transform: uppercase; font-size: 12px; font-weight: 700; letter-spacing: .04em; padding: 1px 8px; border-radius: 4px; color: #fff; background: var(--muted); }
.error .sev { background: var(--meta); } .warning .sev { background: var(--uninitialized); }
.repaired .sev { background: var(--repaired); } .info .sev { background: var(--allowed); }
.finding p { margin: 6px 0; } .where { color: var(--muted); }
.fix { color: #344054; } .fix b { color: var(--ink); }
.scroll { overflow-x: auto; }
svg text { font: 12px system-ui, sans-serif; fill: var(--ink); } svg text.muted { fill: var(--muted); }
svg text.phase { font-weight: 600; }
svg .axis { stroke: #98a2b3; stroke-width: 2; } svg .grid { stroke: #eaecf0; }
.ev-meta { fill: var(--meta); } .ev-empty { fill: var(--uninitialized); } .ev-data { fill: var(--materialized); } .ev-repaired { fill: var(--repaired); }
.seg0 { fill: #3b6fb6; } .seg1 { fill: #7fb2e5; } .seg2 { fill: #f2b441; } .seg3 { fill: #8c6bb1; } .seg4 { fill: #5aa469; }
.loss-train { fill: none; stroke: #3b6fb6; stroke-width: 2; } .loss-train-dot { fill: #3b6fb6; } .loss-val { fill: #f2b441; stroke: #8a5a00; }
.stopped { background: #fdecee; border: 1px solid #f3b8bf; border-radius: 8px; padding: 8px 12px; }
table.facts { border-collapse: collapse; margin: 0 0 12px; } table.facts td, table.facts th { padding: 3px 14px 3px 0; text-align: left; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; margin: 0 0 12px; padding: 0; list-style: none; }
.dot { display: inline-block; width: 11px; height: 11px; border-radius: 50%; margin-right: 6px; vertical-align: -1px; background: var(--materialized); }
.s-meta .dot, .dot.s-meta { background: var(--meta); } .s-uninitialized .dot, .dot.s-uninitialized { background: var(--uninitialized); }
.s-flagged .dot, .dot.s-flagged { background: var(--flagged); } .s-repaired .dot, .dot.s-repaired { background: var(--repaired); }
.s-allowed .dot, .dot.s-allowed { background: var(--allowed); }
.tree ul { list-style: none; margin: 0; padding-left: 20px; border-left: 1px dashed var(--line); }
.tree > details > ul { border-left: none; padding-left: 4px; }
.tree summary { cursor: pointer; padding: 2px 0; }
.tree li.t { padding: 1px 0; }
.chips { color: var(--muted); font-size: 12px; margin-left: 8px; }
.chip { margin-right: 8px; } .chip.s-meta { color: var(--meta); } .chip.s-uninitialized { color: var(--uninitialized); }
.chip.s-flagged { color: var(--flagged); } .chip.s-repaired { color: var(--repaired); }
.tinfo { color: var(--muted); font-size: 12px; margin-left: 8px; }
footer { color: var(--muted); margin: 18px 0 0; font-size: 13px; }
)css";

constexpr TensorState kAllStates[] = {TensorState::Meta, TensorState::Uninitialized, TensorState::Flagged,
                                      TensorState::Repaired, TensorState::Allowed, TensorState::Materialized};

std::string state_class(TensorState state) { return fmt::format("s-{}", to_string(state)); }

std::string finding_class(const Finding& f) {
  if (f.repaired) return "repaired";
  return std::string(to_string(f.severity));
}

void render_header(const Report& report, const Summary& summary, std::string& out) {
  out += "<header class=\"top\">\n";
  out += fmt::format("<h1>metaguard <span class=\"command\">{}</span></h1>\n", text(report.command));
  std::string rank;
  if (report.extra.contains("rank") && report.extra["rank"].is_number_integer()) {
    rank = fmt::format(" (rank {})", report.extra["rank"].get<int64_t>());
  }
  out += fmt::format("<p class=\"source mono\">{}{}</p>\n", text(report.source), text(rank));
  if (summary.errors > 0) {
    out += fmt::format("<div class=\"verdict fail\">{} error{} remain{}</div>\n", summary.errors,
                       summary.errors == 1 ? "" : "s", summary.errors == 1 ? "s" : "");
  } else {
    out += "<div class=\"verdict pass\">No error remains</div>\n";
  }
  out += "<ul class=\"counts\">";
  const std::pair<const char*, int64_t> counts[] = {
      {"tensors", summary.tensors}, {"meta", summary.meta},         {"errors", summary.errors},
      {"warnings", summary.warnings}, {"repaired", summary.repaired}, {"allowed", summary.allowed}};
  for (const auto& [name, count] : counts) out += fmt::format("<li><b>{}</b>{}</li>", count, name);
  for (const auto& [device, bytes] : summary.bytes_by_device) {
    out += fmt::format("<li><b>{}</b>on {}</li>", text(human_bytes(bytes)), text(device));
  }
  out += "</ul>\n<nav><a href=\"#findings\">Findings</a>";
  if (report.training) out += "<a href=\"#training\">Training</a>";
  out += "<a href=\"#memory\">Memory</a><a href=\"#tree\">Module tree</a></nav>\n</header>\n";
}

// One card per problem (finding_groups.hpp): a problem of one finding reads as that finding;
// a larger one names its tensors and ranks, shows the provenance timeline once, and lists
// every finding in a collapsible list.
void render_findings(const Report& report, std::string& out) {
  std::map<std::string, const TensorRecord*> by_name;
  for (const auto& t : report.tensors) by_name.emplace(t.name, &t);
  const auto groups = group_findings(report.findings, report_world_size(report));
  if (groups.size() == report.findings.size()) {
    out += fmt::format("<section id=\"findings\">\n<h2>Findings ({})</h2>\n", report.findings.size());
  } else {
    out += fmt::format("<section id=\"findings\">\n<h2>Findings ({})</h2>\n",
                       text(findings_heading(report.findings.size(), groups.size())));
  }
  if (report.findings.empty()) out += "<p>No findings.</p>\n";
  // What to act on first: open errors, then warnings, then info and allowed, then repaired;
  // the report's own order (tensor, code) within each.
  auto urgency = [](const Finding& f) {
    if (f.repaired) return 3;
    if (f.allowed || f.severity == Severity::Info) return 2;
    return f.severity == Severity::Error ? 0 : 1;
  };
  std::vector<const FindingGroup*> ordered;
  for (const auto& group : groups) ordered.push_back(&group);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [&](const FindingGroup* a, const FindingGroup* b) { return urgency(*a->first) < urgency(*b->first); });
  for (const FindingGroup* group : ordered) {
    const Finding& f = *group->first;
    const bool one = group->size() == 1;
    out += fmt::format("<article class=\"finding {}\">\n<div class=\"head\"><span class=\"sev\">{}</span>",
                       finding_class(f), f.repaired ? "repaired" : text(to_string(f.severity)));
    out += fmt::format("<code>{}</code><code><b>{}</b></code>", text(f.code),
                       text(group->tensor_pattern.empty() ? "(model)" : group->tensor_pattern));
    std::string where;
    if (one && f.rank) where += fmt::format("rank {} ", *f.rank);
    if (!one && !group->ranks_text.empty()) where += group->ranks_text + " ";
    if (f.phase) where += "at " + *f.phase;
    if (f.allowed) where += " (allowed)";
    if (!one) where += fmt::format(" ({} findings)", group->size());
    if (!where.empty()) out += fmt::format("<span class=\"where\">{}</span>", text(where));
    out += "</div>\n";
    out += fmt::format("<p class=\"message\">{}</p>\n", text(group->message));
    if (!f.hint.empty()) out += fmt::format("<p class=\"fix\"><b>Fix:</b> {}</p>\n", text(f.hint));
    const TensorRecord* tensor = nullptr;
    if (f.tensor) {
      auto it = by_name.find(*f.tensor);
      if (it != by_name.end()) tensor = it->second;
    }
    if (tensor && !tensor->provenance.empty()) {
      if (!one) out += fmt::format("<p class=\"where\">History of <code>{}</code>, as the others':</p>\n", text(*f.tensor));
      out += "<div class=\"scroll\">" + svg_timeline(tensor->provenance) + "</div>\n";
    } else if (f.tensor) {
      out += "<p class=\"where\">No provenance recorded for this tensor.</p>\n";
    }
    if (!one) {
      out += fmt::format("<details><summary>every finding ({})</summary><ul class=\"mono\">", group->size());
      for (size_t index : group->members) {
        const Finding& member = report.findings[index];
        out += fmt::format("<li>{}{}</li>", text(member.tensor.value_or("(model)")),
                           member.rank ? fmt::format(" rank {}", *member.rank) : "");
      }
      out += "</ul></details>\n";
    }
    out += "</article>\n";
  }
  out += "</section>\n";
}

void render_training(const TrainingInfo& t, std::string& out) {
  out += "<section id=\"training\">\n<h2>Training</h2>\n";
  if (t.stopped) {
    out += fmt::format("<p class=\"stopped\"><b>Stopped</b> at <code>{}</code>{}: {}</p>\n", text(t.stopped->phase),
                       t.stopped->rank ? fmt::format(" on rank {}", *t.stopped->rank) : "", text(t.stopped->reason));
  }
  out += "<table class=\"facts\"><tr><th>world size</th><th>steps</th><th>global batch</th><th>sequence</th>"
         "<th>final loss</th><th>tokens/s</th></tr>";
  out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0f}</td></tr></table>\n",
                     t.world_size, t.steps, t.global_batch, t.seq_len,
                     t.final_loss && std::isfinite(*t.final_loss) ? fmt::format("{:.4f}", *t.final_loss) : "-",
                     std::isfinite(t.tokens_per_s) ? t.tokens_per_s : 0.0);
  if (!t.device.empty()) out += fmt::format("<p>Ran on {} with {} collectives.</p>\n", text(t.device), text(t.backend));
  std::string curve = svg_loss_curve(t.losses, t.val_losses);
  if (curve.empty()) {
    out += "<p>No loss was recorded (the run stopped before its first step).</p>\n";
  } else {
    out += "<p class=\"where\">Training loss per step (line) and validation loss (dots).</p>\n";
    out += "<div class=\"scroll\">" + curve + "</div>\n";
  }
  out += "</section>\n";
}

void render_memory(const Report& report, const Summary& summary, std::string& out) {
  out += "<section id=\"memory\">\n";
  std::vector<StackedBar> bars;
  if (!report.memory.empty()) {
    out += "<h2>Memory per rank and device</h2>\n<p class=\"where\">Weights, gradients and optimizer state "
           "each rank will hold.</p>\n";
    const MemoryColumns optional = memory_columns(report.memory);
    std::vector<std::string> legend = {"weights", "gradients", "optimizer"};
    if (optional.gathered) legend.push_back("gathered");
    if (optional.activations) legend.push_back("activations");
    for (const auto& row : report.memory) {
      std::vector<int64_t> segments = {row.weight_bytes, row.gradient_bytes, row.optimizer_bytes};
      if (optional.gathered) segments.push_back(row.gathered_bytes);
      if (optional.activations) segments.push_back(row.activation_bytes);
      bars.push_back({fmt::format("rank {} \xC2\xB7 {}", row.rank, row.device), segments});
    }
    out += "<div class=\"scroll\">" + svg_stacked_bars(bars, legend) + "</div>\n";
  } else {
    out += "<h2>Tensor bytes by device</h2>\n";
    for (const auto& [device, bytes] : summary.bytes_by_device) bars.push_back({device, {bytes}});
    if (bars.empty()) {
      out += "<p>No tensors.</p>\n";
    } else {
      out += "<div class=\"scroll\">" + svg_stacked_bars(bars, {"bytes"}) + "</div>\n";
    }
  }
  if (report.parameters) {
    const ParameterCounts& p = *report.parameters;
    out += fmt::format("<p>Parameters: {} trainable elements in {} tensors, {} frozen elements in {} tensors.</p>\n",
                       p.trainable_numel, p.trainable_tensors, p.frozen_numel, p.frozen_tensors);
  }
  out += "</section>\n";
}

std::string chips(const ModuleNode& node) {
  std::string out = "<span class=\"chips\">";
  for (TensorState state : kAllStates) {
    int count = node.counts[static_cast<size_t>(state)];
    if (count == 0) continue;
    out += fmt::format("<span class=\"chip {}\">{} {}</span>", state_class(state), count, to_string(state));
  }
  return out + "</span>";
}

void render_node(const ModuleNode& node, const Report& report, const std::vector<TensorState>& states,
                 bool is_root, std::string& out) {
  bool open = is_root || node.worst() != TensorState::Materialized;
  std::string label = is_root ? "(model)" : node.label;
  out += fmt::format("<details{}><summary class=\"{}\"><span class=\"dot\"></span><code>{}</code>{}</summary>\n<ul>\n",
                     open ? " open=\"open\"" : "", state_class(node.worst()), text(label), chips(node));
  for (const auto& child : node.children) {
    out += "<li>";
    render_node(child, report, states, false, out);
    out += "</li>\n";
  }
  for (size_t index : node.tensors) {
    const TensorRecord& t = report.tensors[index];
    std::string leaf = t.name.substr(node.path.empty() ? 0 : std::min(t.name.size(), node.path.size() + 1));
    out += fmt::format(
        "<li class=\"t {}\" title=\"{}\"><span class=\"dot\"></span><code>{}</code><span class=\"tinfo\">{} {} {} "
        "{} \xC2\xB7 {}</span></li>\n",
        state_class(states[index]), attr(t.name), text(leaf), text(to_string(states[index])), text(t.dtype),
        text(shape_text(t.shape)), text(t.device), text(human_bytes(t.nbytes)));
  }
  out += "</ul>\n</details>\n";
}

void render_tree(const Report& report, std::string& out) {
  out += fmt::format("<section id=\"tree\">\n<h2>Module tree ({} tensors)</h2>\n<ul class=\"legend\">",
                     report.tensors.size());
  for (TensorState state : kAllStates) {
    out += fmt::format("<li class=\"{}\"><span class=\"dot\"></span>{}</li>", state_class(state), to_string(state));
  }
  out += "</ul>\n";
  if (report.tensors.empty()) {
    out += "<p>No tensors listed.</p>\n</section>\n";
    return;
  }
  auto by_name = tensor_states(report);
  std::vector<TensorState> states;
  states.reserve(report.tensors.size());
  for (const auto& t : report.tensors) states.push_back(by_name.at(t.name));
  ModuleNode root = build_module_tree(report.tensors, states);
  out += "<div class=\"tree\">\n";
  render_node(root, report, states, true, out);
  out += "</div>\n</section>\n";
}

}  // namespace

std::string HtmlRenderer::render(const Report& report) const {
  Summary summary = report.summary();
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
      // Nothing may be fetched or run: the page must open the same offline, in a CI artifact
      // viewer or years later.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
      "img-src data:\"/>\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
      "<link rel=\"icon\" href=\"data:,\"/>\n";
  out += fmt::format("<title>metaguard {}: {}</title>\n", text(report.command), text(report.source));
  out += fmt::format("<style>{}</style>\n</head>\n<body>\n<main>\n", kStyle);
  render_header(report, summary, out);
  render_findings(report, out);
  if (report.training) render_training(*report.training, out);
  render_memory(report, summary, out);
  render_tree(report, out);
  out += fmt::format("<footer><p class=\"mono\">{}</p><p>{} \xC2\xB7 metaguard {}</p></footer>\n",
                     text(summary_line(summary)), Report::kSchema, METAGUARD_VERSION);
  out += "</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace metaguard
