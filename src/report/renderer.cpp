#include "report/renderer.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"
#include "report/html_renderer.hpp"
#include "report/json_renderer.hpp"
#include "report/junit_renderer.hpp"
#include "report/markdown_renderer.hpp"
#include "report/text_renderer.hpp"

namespace metaguard {

std::vector<std::string> report_formats() { return {"text", "json", "md", "html", "junit"}; }

std::unique_ptr<Renderer> make_renderer(std::string_view format, bool verbose) {
  if (format == "text") return std::make_unique<TextRenderer>(verbose);
  if (format == "json") return std::make_unique<JsonRenderer>();
  if (format == "md") return std::make_unique<MarkdownRenderer>();
  if (format == "html") return std::make_unique<HtmlRenderer>();
  if (format == "junit") return std::make_unique<JUnitRenderer>();
  throw InputError(fmt::format("--format: unknown format '{}' (expected one of: {})", format,
                               fmt::join(report_formats(), ", ")));
}

}  // namespace metaguard
