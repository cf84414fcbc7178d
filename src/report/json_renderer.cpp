#include "report/json_renderer.hpp"

#include "report/report_json.hpp"

namespace metaguard {

std::string JsonRenderer::render(const Report& report) const {
  return report_to_json(report).dump(2) + "\n";
}

}  // namespace metaguard
