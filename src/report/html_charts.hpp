#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/report.hpp"

// The HTML report's pictures as inline SVG (no scripts, nothing fetched). Colours come from
// CSS classes that the page's stylesheet defines, so the charts follow its palette.
namespace metaguard {

// A tensor's provenance left to right: one node per event (phase above, event and device
// below), its colour saying whether the tensor held data after it. Hovering shows details.
std::string svg_timeline(const std::vector<ProvenanceEvent>& events);

struct StackedBar {
  std::string label;              // "rank 1 · cuda:1"
  std::vector<int64_t> segments;  // bytes, one per segment name
};
// Horizontal stacked bars on one scale, each labelled with its total; segment i gets CSS
// class "seg<i>".
std::string svg_stacked_bars(const std::vector<StackedBar>& bars,
                             const std::vector<std::string>& segment_names);

// Training loss per step (losses[i] is step i + 1) as a line, validation losses as dots.
// Non-finite values are left out (the line breaks there).
std::string svg_loss_curve(const std::vector<double>& losses, const std::vector<ValidationLoss>& val_losses);

}  // namespace metaguard
