#include "report/renderer.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"
#include "report/html_renderer.hpp"
#include "report/json_renderer.hpp"
#include "report/junit_renderer.hpp"
#include "report/markdown_renderer.hpp"
#include "report/text_renderer.hpp"

namespace metaguard {

namespace {

// The one list of report formats: a new format is its renderer and a row here.
struct FormatRow {
  const char* name;
  std::unique_ptr<Renderer> (*make)(bool verbose);
};

const FormatRow kFormats[] = {
    {"text", [](bool verbose) -> std::unique_ptr<Renderer> { return std::make_unique<TextRenderer>(verbose); }},
    {"json", [](bool) -> std::unique_ptr<Renderer> { return std::make_unique<JsonRenderer>(); }},
    {"md", [](bool) -> std::unique_ptr<Renderer> { return std::make_unique<MarkdownRenderer>(); }},
    {"html", [](bool) -> std::unique_ptr<Renderer> { return std::make_unique<HtmlRenderer>(); }},
    {"junit", [](bool) -> std::unique_ptr<Renderer> { return std::make_unique<JUnitRenderer>(); }},
};

}  // namespace

std::vector<std::string> report_formats() {
  std::vector<std::string> names;
  for (const auto& row : kFormats) names.emplace_back(row.name);
  return names;
}

std::unique_ptr<Renderer> make_renderer(std::string_view format, bool verbose) {
  for (const auto& row : kFormats) {
    if (format == row.name) return row.make(verbose);
  }
  throw InputError(fmt::format("--format: unknown format '{}' (expected one of: {})", format,
                               fmt::join(report_formats(), ", ")));
}

}  // namespace metaguard
