#pragma once
#include "report/renderer.hpp"

namespace metaguard {

// GitHub-flavoured Markdown, for a pull request comment or a CI job summary: the verdict
// and counts, findings as a table (what to act on first), training, memory, then every
// tensor with its state and provenance, closing with the text report's `SUMMARY:` line.
class MarkdownRenderer : public Renderer {
 public:
  std::string render(const Report& report) const override;
};

}  // namespace metaguard
