#pragma once
#include "report/renderer.hpp"

namespace metaguard {

// CONTRACT.md's schema exactly (see report_json.hpp), pretty-printed.
class JsonRenderer : public Renderer {
 public:
  std::string render(const Report& report) const override;
};

}  // namespace metaguard
