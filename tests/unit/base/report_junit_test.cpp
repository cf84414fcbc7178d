#include <catch2/catch.hpp>
#include <rapidcheck/catch.h>

#include <set>

#include "report/junit_renderer.hpp"
#include "report/junit_xml.hpp"
#include "report/renderer.hpp"
#include "report_fixtures.hpp"
#include "report_xmllint.hpp"

using namespace metaguard;
using metaguard::test::finding;
using metaguard::test::tensor;

namespace {

std::string xpath(const std::string& xml, const std::string& expression) {
  auto result = test::xmllint(xml, "--xpath '" + expression + "'");
  INFO(result.output);
  REQUIRE(result.status == 0);
  std::string out = result.output;
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void require_well_formed(const std::string& xml) {
  if (!test::have_xmllint()) {
    WARN("xmllint not installed (Debian package libxml2-utils): XML not parsed");
    return;
  }
  auto result = test::xmllint(xml, "--noout");
  INFO(xml);
  INFO(result.output);
  REQUIRE(result.status == 0);
}

Report sample_report() {
  Report report;
  report.command = "preflight";
  report.source = "micro";
  report.tensors = {tensor("a.weight"), tensor("a.lora_ind", "meta", TensorKind::NonpersistentBuffer),
                    tensor("b.weight"), tensor("c.weight")};
  report.findings.push_back(finding("meta-nonpersistent-buffer", "a.lora_ind", Severity::Error, 1));
  report.findings.push_back(finding("rank-divergence", "a.lora_ind", Severity::Error, 1));
  report.findings.push_back(finding("dtype-mismatch", "b.weight", Severity::Warning));
  Finding fixed = finding("meta-parameter", "c.weight");
  fixed.repaired = true;
  report.findings.push_back(fixed);
  report.findings.push_back(finding("missing-key", "d.weight"));
  report.findings.push_back(finding("mixed-devices", "", Severity::Error));
  return report;
}

}  // namespace

TEST_CASE("report junit: the data model writes totals first and escapes everything", "[report][junit]") {
  JUnitSuite suite;
  suite.name = "scenarios <all> & \"quoted\"";
  suite.properties = {{"seed", "42"}};
  suite.time_s = 1.5;
  JUnitCase ok{"lora-ind-meta", "metaguard.regress", 0.25, std::nullopt, std::nullopt, ""};
  JUnitCase bad{"skip-broadcast", "metaguard.regress", 1.25,
                JUnitFailure{"expected meta-parameter on rank 1, got nothing", "missed", "details\n<here>"},
                std::nullopt, "log line"};
  JUnitCase skipped{"needs-cuda", "metaguard.regress", std::nullopt, std::nullopt, std::string("no GPU"), ""};
  suite.cases = {ok, bad, skipped};
  CHECK(suite.failures() == 1);
  CHECK(suite.skipped() == 1);

  std::string xml = write_junit("metaguard regress", {suite, JUnitSuite{"empty", {}, {}, std::nullopt}});
  require_well_formed(xml);
  // Totals on the root come before any suite (streaming readers rely on it).
  auto root = xml.find("<testsuites name=\"metaguard regress\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"1.500\">");
  CHECK(root != std::string::npos);
  CHECK(root < xml.find("<testsuite "));
  CHECK(xml.find("name=\"scenarios &lt;all&gt; &amp; &quot;quoted&quot;\"") != std::string::npos);
  CHECK(xml.find("details\n&lt;here&gt;</failure>") != std::string::npos);
  CHECK(xml.find("<testsuite name=\"empty\" tests=\"0\" failures=\"0\" errors=\"0\" skipped=\"0\"/>") !=
        std::string::npos);
  if (test::have_xmllint()) {
    CHECK(xpath(xml, "count(//testcase)") == "3");
    CHECK(xpath(xml, "string(//testcase[@name=\"skip-broadcast\"]/failure/@type)") == "missed");
    CHECK(xpath(xml, "string(//testcase[@name=\"needs-cuda\"]/skipped/@message)") == "no GPU");
    CHECK(xpath(xml, "string(//testsuite[1]/properties/property[@name=\"seed\"]/@value)") == "42");
  }
}

TEST_CASE("report junit: one case per tensor, failing on open errors only", "[report][junit]") {
  Report report = sample_report();
  std::string xml = make_renderer("junit")->render(report);
  require_well_formed(xml);
  // a.weight, a.lora_ind, b.weight, c.weight, then d.weight (only in findings), then (model).
  CHECK(xml.find("<testsuites name=\"metaguard\" tests=\"6\" failures=\"3\"") != std::string::npos);
  CHECK(xml.find("<testsuite name=\"preflight micro\" tests=\"6\" failures=\"3\"") != std::string::npos);
  if (!test::have_xmllint()) return;
  CHECK(xpath(xml, "string(//testcase[2]/@name)") == "a.lora_ind");
  CHECK(xpath(xml, "string(//testcase[5]/@name)") == "d.weight");
  CHECK(xpath(xml, "string(//testcase[6]/@name)") == "(model)");
  CHECK(xpath(xml, "string(//testcase[@name=\"a.lora_ind\"]/failure/@type)") ==
        "meta-nonpersistent-buffer,rank-divergence");
  CHECK(xpath(xml, "string(//testcase[@name=\"a.lora_ind\"]/failure/@message)") ==
        "2 errors: meta-nonpersistent-buffer,rank-divergence");
  CHECK(xpath(xml, "count(//testcase[@name=\"b.weight\"]/failure)") == "0");
  CHECK(xpath(xml, "string(//testcase[@name=\"b.weight\"]/system-out)").find("warning [dtype-mismatch]") == 0);
  CHECK(xpath(xml, "string(//testcase[@name=\"c.weight\"]/system-out)").find("repaired [meta-parameter]") == 0);
  CHECK(xpath(xml, "string(//properties/property[@name=\"errors\"]/@value)") == "4");
}

TEST_CASE("report junit: well-formed for any names and messages", "[report][junit][property]") {
  if (!test::have_xmllint()) {
    WARN("xmllint not installed (Debian package libxml2-utils): property skipped");
    return;
  }
  rc::prop("xmllint accepts the document and counts match the open errors", [] {
    auto severity = rc::gen::element(Severity::Info, Severity::Warning, Severity::Error);
    auto names = *rc::gen::resize(6, rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(rc::gen::arbitrary<std::string>())));
    Report report;
    report.command = "scan";
    report.source = *rc::gen::arbitrary<std::string>();
    std::set<std::string> listed;
    for (const auto& name : names) {
      if (listed.insert(name).second) report.tensors.push_back(tensor(name));
    }
    std::set<std::string> failing;
    int findings = *rc::gen::inRange(0, 6);
    for (int i = 0; i < findings; ++i) {
      Finding f = finding(*rc::gen::arbitrary<std::string>(), "", *severity);
      f.tensor = *rc::gen::elementOf(names);  // possibly "": still a tensor name
      f.message = *rc::gen::arbitrary<std::string>();
      f.repaired = *rc::gen::arbitrary<bool>();
      if (f.severity == Severity::Error && !f.repaired) failing.insert(*f.tensor);
      report.findings.push_back(f);
    }
    std::string xml = JUnitRenderer().render(report);
    auto result = test::xmllint(xml, "--noout");
    RC_ASSERT(result.status == 0);
    RC_ASSERT(xml.find("tests=\"" + std::to_string(listed.size()) + "\" failures=\"" +
                       std::to_string(failing.size()) + "\"") != std::string::npos);
  });
}
