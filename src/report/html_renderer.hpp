#pragma once
#include "report/renderer.hpp"

namespace metaguard {

// One self-contained HTML page (inline CSS and SVG; no script, and a Content-Security-Policy
// that forbids fetching anything): the verdict, each finding with its tensor's provenance
// timeline, the training loss curve, memory per rank and device as bars, and the module
// tree coloured by tensor state (see tensor_state.hpp). Collapsing uses <details>. The
// markup is also well-formed XML (void elements closed, attributes quoted), so an XML parser
// can check its structure in tests.
class HtmlRenderer : public Renderer {
 public:
  std::string render(const Report& report) const override;
};

}  // namespace metaguard
