#pragma once
#include "report/renderer.hpp"

namespace metaguard {

// For a terminal: findings first (what to act on), a tensor table for scans, and one
// closing `SUMMARY:` line that scripts can grep.
// Findings that tell one problem (finding_groups.hpp) print as one paragraph naming every
// tensor and rank; `verbose` prints each finding on its own.
class TextRenderer : public Renderer {
 public:
  explicit TextRenderer(bool verbose = false) : verbose_(verbose) {}
  std::string render(const Report& report) const override;

 private:
  bool verbose_;
};

// The closing line, shared with other renderers that want it.
std::string summary_line(const Summary& summary);
// "1.5 GiB"-style size.
std::string human_bytes(int64_t bytes);
// "[2, 3]"
std::string shape_text(const std::vector<int64_t>& shape);

}  // namespace metaguard
