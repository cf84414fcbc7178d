#include "report/html_charts.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "report/escaping.hpp"
#include "report/text_renderer.hpp"

namespace metaguard {
namespace {

std::string text(std::string_view s) { return escape_xml_text(s); }

// Keeps labels inside their slot; the full text stays in the node's <title>.
std::string clip(const std::string& s, size_t max_chars) {
  if (s.size() <= max_chars) return s;
  size_t cut = max_chars - 1;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0u) == 0x80u) --cut;  // UTF-8 boundary
  return s.substr(0, cut) + "\xE2\x80\xA6";                                        // "…"
}

std::string event_class(const ProvenanceEvent& event) {
  if (event.event == "repaired") return "ev-repaired";
  if (event.device == "meta") return "ev-meta";
  if (event.event == "materialized-empty") return "ev-empty";
  return "ev-data";
}

// "1.25", "12.5", "125": three significant digits for axis labels.
std::string axis_number(double value) { return fmt::format("{:.3g}", value); }

}  // namespace

std::string svg_timeline(const std::vector<ProvenanceEvent>& events) {
  constexpr int kStep = 150;
  constexpr int kFirst = 80;
  if (events.empty()) return "";
  int width = kFirst * 2 + kStep * static_cast<int>(events.size() - 1);
  std::string out = fmt::format(
      "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"96\" "
      "viewBox=\"0 0 {0} 96\" role=\"img\" aria-label=\"provenance timeline\">\n",
      width);
  int last_x = kFirst + kStep * static_cast<int>(events.size() - 1);
  out += fmt::format("<line class=\"axis\" x1=\"{}\" y1=\"42\" x2=\"{}\" y2=\"42\"/>\n", kFirst, last_x);
  for (size_t i = 0; i < events.size(); ++i) {
    const ProvenanceEvent& e = events[i];
    int x = kFirst + kStep * static_cast<int>(i);
    std::string title = fmt::format("{}: {} on {}", e.phase, e.event, e.device);
    if (!e.detail.empty()) title += " (" + e.detail + ")";
    out += fmt::format("<g><title>{}</title>", text(title));
    out += fmt::format("<text class=\"phase\" x=\"{}\" y=\"22\" text-anchor=\"middle\">{}</text>", x,
                       text(clip(e.phase, 22)));
    out += fmt::format("<circle class=\"{}\" cx=\"{}\" cy=\"42\" r=\"8\"/>", event_class(e), x);
    out += fmt::format("<text x=\"{}\" y=\"70\" text-anchor=\"middle\">{}</text>", x, text(clip(e.event, 22)));
    out += fmt::format("<text class=\"muted\" x=\"{}\" y=\"88\" text-anchor=\"middle\">{}</text></g>\n", x,
                       text(clip(e.device, 22)));
  }
  return out + "</svg>\n";
}

std::string svg_stacked_bars(const std::vector<StackedBar>& bars,
                             const std::vector<std::string>& segment_names) {
  constexpr int kLabelWidth = 170;
  constexpr int kBarWidth = 520;
  constexpr int kRow = 30;
  constexpr int kTop = 34;  // room for the legend
  int64_t largest = 0;
  for (const auto& bar : bars) {
    int64_t total = 0;
    for (int64_t bytes : bar.segments) total += std::max<int64_t>(bytes, 0);
    largest = std::max(largest, total);
  }
  int height = kTop + kRow * static_cast<int>(bars.size()) + 8;
  int width = kLabelWidth + kBarWidth + 110;
  std::string out = fmt::format(
      "<svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" role=\"img\" aria-label=\"memory chart\">\n",
      width, height);
  if (segment_names.size() > 1) {
    int x = kLabelWidth;
    for (size_t s = 0; s < segment_names.size(); ++s) {
      out += fmt::format("<rect class=\"seg{}\" x=\"{}\" y=\"8\" width=\"12\" height=\"12\"/>", s, x);
      out += fmt::format("<text x=\"{}\" y=\"18\">{}</text>\n", x + 17, text(segment_names[s]));
      x += 30 + static_cast<int>(segment_names[s].size()) * 8;
    }
  }
  for (size_t b = 0; b < bars.size(); ++b) {
    const StackedBar& bar = bars[b];
    int y = kTop + kRow * static_cast<int>(b);
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", kLabelWidth - 10, y + 15,
                       text(clip(bar.label, 24)));
    double x = kLabelWidth;
    int64_t total = 0;
    for (size_t s = 0; s < bar.segments.size(); ++s) {
      int64_t bytes = std::max<int64_t>(bar.segments[s], 0);
      total += bytes;
      if (bytes == 0 || largest == 0) continue;
      double w = kBarWidth * static_cast<double>(bytes) / static_cast<double>(largest);
      std::string name = s < segment_names.size() ? segment_names[s] : "";
      out += fmt::format(
          "<rect class=\"seg{}\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"20\"><title>{}: {}</title></rect>\n",
          s, x, y, std::max(w, 0.5), text(name), text(human_bytes(bytes)));
      x += w;
    }
    out += fmt::format("<text x=\"{:.1f}\" y=\"{}\">{}</text>\n", x + 8, y + 15, text(human_bytes(total)));
  }
  return out + "</svg>\n";
}

std::string svg_loss_curve(const std::vector<double>& losses, const std::vector<ValidationLoss>& val_losses) {
  constexpr double kLeft = 64, kRight = 700, kTop = 16, kBottom = 236;
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  double first_step = std::numeric_limits<double>::infinity();
  double last_step = -first_step;
  auto see = [&](double step, double loss) {
    if (!std::isfinite(loss)) return;
    lo = std::min(lo, loss);
    hi = std::max(hi, loss);
    first_step = std::min(first_step, step);
    last_step = std::max(last_step, step);
  };
  for (size_t i = 0; i < losses.size(); ++i) see(static_cast<double>(i + 1), losses[i]);
  for (const auto& val : val_losses) see(static_cast<double>(val.step), val.loss);
  if (!std::isfinite(lo)) return "";  // nothing to draw
  if (hi - lo < 1e-12) {
    lo -= 0.5;
    hi += 0.5;
  }
  double pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  if (last_step <= first_step) last_step = first_step + 1;
  auto px = [&](double step) { return kLeft + (kRight - kLeft) * (step - first_step) / (last_step - first_step); };
  auto py = [&](double loss) { return kBottom - (kBottom - kTop) * (loss - lo) / (hi - lo); };

  std::string out =
      "<svg class=\"loss\" xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"272\" "
      "viewBox=\"0 0 720 272\" role=\"img\" aria-label=\"loss curve\">\n";
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>", kLeft, kTop, kBottom);
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>\n", kLeft, kBottom, kRight);
  for (double fraction : {0.0, 0.5, 1.0}) {
    double value = lo + (hi - lo) * fraction;
    double y = py(value);
    out += fmt::format("<line class=\"grid\" x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\"/>", kLeft, y, kRight, y);
    out += fmt::format("<text class=\"muted\" x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", kLeft - 6,
                       y + 4, axis_number(value));
  }
  out += fmt::format("<text class=\"muted\" x=\"{}\" y=\"254\" text-anchor=\"middle\">{}</text>", kLeft,
                     axis_number(first_step));
  out += fmt::format("<text class=\"muted\" x=\"{}\" y=\"254\" text-anchor=\"middle\">{}</text>", kRight,
                     axis_number(last_step));
  out += fmt::format("<text class=\"muted\" x=\"{}\" y=\"268\" text-anchor=\"middle\">step</text>\n",
                     (kLeft + kRight) / 2);

  // One polyline per run of finite values.
  std::string points;
  auto flush = [&]() {
    if (points.empty()) return;
    out += fmt::format("<polyline class=\"loss-train\" points=\"{}\"/>\n", points);
    points.clear();
  };
  for (size_t i = 0; i < losses.size(); ++i) {
    if (!std::isfinite(losses[i])) {
      flush();
      continue;
    }
    points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", px(static_cast<double>(i + 1)),
                          py(losses[i]));
  }
  flush();
  if (losses.size() == 1 && std::isfinite(losses[0])) {
    out += fmt::format("<circle class=\"loss-train-dot\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\"/>\n", px(1), py(losses[0]));
  }
  for (const auto& val : val_losses) {
    if (!std::isfinite(val.loss)) continue;
    out += fmt::format(
        "<circle class=\"loss-val\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\"><title>step {}: validation loss "
        "{:.4f}</title></circle>\n",
        px(static_cast<double>(val.step)), py(val.loss), val.step, val.loss);
  }
  return out + "</svg>\n";
}

}  // namespace metaguard
