#include "report/json_renderer.hpp"

#include "report/report_json.hpp"

namespace metaguard {

std::string JsonRenderer::render(const Report& report) const {
  // Checkpoint keys are bytes from a file: replace invalid UTF-8 rather than fail.
  return report_to_json(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace metaguard
