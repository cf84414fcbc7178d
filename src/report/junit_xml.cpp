#include "report/junit_xml.hpp"

#include <fmt/format.h>

#include "report/escaping.hpp"

namespace metaguard {
namespace {

std::string attribute(std::string_view name, std::string_view value) {
  return fmt::format(" {}=\"{}\"", name, escape_xml_attribute(value));
}

std::string time_attribute(const std::optional<double>& time_s) {
  return time_s ? fmt::format(" time=\"{:.3f}\"", *time_s) : "";
}

// Leading/trailing line breaks inside elements make text bodies readable in a file.
std::string element(std::string_view indent, std::string_view tag, std::string_view attributes,
                    std::string_view text) {
  if (text.empty()) return fmt::format("{}<{}{}/>\n", indent, tag, attributes);
  return fmt::format("{}<{}{}>{}</{}>\n", indent, tag, attributes, escape_xml_text(text), tag);
}

std::string write_case(const JUnitCase& c) {
  std::string out = fmt::format("    <testcase{}{}{}", attribute("name", c.name),
                                attribute("classname", c.classname), time_attribute(c.time_s));
  if (!c.failure && !c.skipped && c.system_out.empty()) return out + "/>\n";
  out += ">\n";
  if (c.skipped) out += element("      ", "skipped", attribute("message", *c.skipped), "");
  if (c.failure) {
    out += element("      ", "failure",
                   attribute("message", c.failure->message) + attribute("type", c.failure->type),
                   c.failure->text);
  }
  if (!c.system_out.empty()) out += element("      ", "system-out", "", c.system_out);
  return out + "    </testcase>\n";
}

}  // namespace

int JUnitSuite::failures() const {
  int count = 0;
  for (const auto& c : cases) count += c.failure ? 1 : 0;
  return count;
}

int JUnitSuite::skipped() const {
  int count = 0;
  for (const auto& c : cases) count += (c.skipped && !c.failure) ? 1 : 0;
  return count;
}

std::string write_junit(const std::string& name, const std::vector<JUnitSuite>& suites) {
  size_t tests = 0;
  int failures = 0;
  int skipped = 0;
  double time_s = 0;
  bool timed = false;
  for (const auto& suite : suites) {
    tests += suite.cases.size();
    failures += suite.failures();
    skipped += suite.skipped();
    if (suite.time_s) {
      time_s += *suite.time_s;
      timed = true;
    }
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites{} tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\"{}>\n",
                     attribute("name", name), tests, failures, skipped,
                     time_attribute(timed ? std::optional<double>(time_s) : std::nullopt));
  for (const auto& suite : suites) {
    out += fmt::format("  <testsuite{} tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\"{}",
                       attribute("name", suite.name), suite.cases.size(), suite.failures(),
                       suite.skipped(), time_attribute(suite.time_s));
    if (suite.properties.empty() && suite.cases.empty()) {
      out += "/>\n";
      continue;
    }
    out += ">\n";
    if (!suite.properties.empty()) {
      out += "    <properties>\n";
      for (const auto& [key, value] : suite.properties) {
        out += fmt::format("      <property{}{}/>\n", attribute("name", key), attribute("value", value));
      }
      out += "    </properties>\n";
    }
    for (const auto& c : suite.cases) out += write_case(c);
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  return out;
}

}  // namespace metaguard
