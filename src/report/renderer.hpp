#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/report.hpp"

namespace metaguard {

// One output format. Every renderer is fed the complete report (JUnit needs totals first).
class Renderer {
 public:
  virtual ~Renderer() = default;
  virtual std::string render(const Report& report) const = 0;
};

// The formats of CONTRACT.md: text, json, md, html, junit.
std::vector<std::string> report_formats();
// Throws InputError naming the format when it is unknown. `verbose`: the text format lists
// every finding instead of one paragraph per problem (the other formats keep both).
std::unique_ptr<Renderer> make_renderer(std::string_view format, bool verbose = false);

}  // namespace metaguard
