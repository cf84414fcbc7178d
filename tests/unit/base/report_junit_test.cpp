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

TEST_CASE("report junit: one case per problem, failing on open errors only, then the tensors without findings",
          "[report][junit]") {
  Report report = sample_report();
  std::string xml = make_renderer("junit")->render(report);
  require_well_formed(xml);
  // The six findings are six problems (no two share code and story), then a.weight passes.
  // Open errors: both of a.lora_ind's, d.weight's missing key and the model's mixed devices.
  CHECK(xml.find("<testsuites name=\"metaguard\" tests=\"7\" failures=\"4\"") != std::string::npos);
  CHECK(xml.find("<testsuite name=\"preflight micro\" tests=\"7\" failures=\"4\"") != std::string::npos);
  if (!test::have_xmllint()) return;
  CHECK(xpath(xml, "string(//testcase[1]/@name)") == "a.lora_ind [meta-nonpersistent-buffer]");
  CHECK(xpath(xml, "string(//testcase[2]/@name)") == "a.lora_ind [rank-divergence]");
  CHECK(xpath(xml, "string(//testcase[6]/@name)") == "(model) [mixed-devices]");
  CHECK(xpath(xml, "string(//testcase[7]/@name)") == "a.weight");
  CHECK(xpath(xml, "count(//testcase[7]/*)") == "0");
  CHECK(xpath(xml, "string(//testcase[1]/failure/@type)") == "meta-nonpersistent-buffer");
  CHECK(xpath(xml, "count(//testcase[@name=\"b.weight [dtype-mismatch]\"]/failure)") == "0");
  CHECK(xpath(xml, "string(//testcase[@name=\"b.weight [dtype-mismatch]\"]/system-out)").find("warning [dtype-mismatch]") == 0);
  CHECK(xpath(xml, "string(//testcase[@name=\"c.weight [meta-parameter]\"]/system-out)").find("repaired [meta-parameter]") == 0);
  CHECK(xpath(xml, "string(//properties/property[@name=\"errors\"]/@value)") == "4");
}

TEST_CASE("report junit: a problem on every layer and rank is one failing case that names them all", "[report][junit]") {
  Report report;
  report.command = "preflight";
  report.source = "llama";
  report.extra["preflight"] = {{"world_size", 4}};
  for (int rank = 0; rank < 4; ++rank) {
    for (int layer = 0; layer < 80; ++layer) {
      const std::string name = "transformer.h." + std::to_string(layer) + ".attn.attn.lora_ind";
      Finding f = finding("meta-nonpersistent-buffer", name, Severity::Error, rank);
      f.phase = "before-validation";
      f.message = "Non-persistent buffer " + name + " is on meta on rank " + std::to_string(rank) + " at before-validation.";
      report.findings.push_back(f);
    }
  }
  std::string xml = make_renderer("junit")->render(report);
  require_well_formed(xml);
  CHECK(xml.find("<testsuite name=\"preflight llama\" tests=\"1\" failures=\"1\"") != std::string::npos);
  if (!test::have_xmllint()) return;
  CHECK(xpath(xml, "string(//testcase[1]/@name)") ==
        "transformer.h.{0..79}.attn.attn.lora_ind [meta-nonpersistent-buffer] on all 4 ranks");
  CHECK(xpath(xml, "string(//testcase[1]/failure/@message)") ==
        "Non-persistent buffer transformer.h.{0..79}.attn.attn.lora_ind is on meta on all 4 ranks at before-validation.");
}

TEST_CASE("report junit: well-formed for any names and messages", "[report][junit][property]") {
  if (!test::have_xmllint()) {
    WARN("xmllint not installed (Debian package libxml2-utils): property skipped");
    return;
  }
  // Each finding has a code of its own, so each is a problem of its own: one case each,
  // failing when it is an open error, plus one passing case per tensor no finding names.
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
    int failing = 0;
    std::set<std::string> named;
    int findings = *rc::gen::inRange(0, 6);
    for (int i = 0; i < findings; ++i) {
      Finding f = finding(std::to_string(i) + *rc::gen::arbitrary<std::string>(), "", *severity);
      f.tensor = *rc::gen::elementOf(names);  // possibly "": still a tensor name
      f.message = *rc::gen::arbitrary<std::string>();
      f.repaired = *rc::gen::arbitrary<bool>();
      if (f.severity == Severity::Error && !f.repaired) ++failing;
      named.insert(*f.tensor);
      report.findings.push_back(f);
    }
    size_t unnamed = 0;
    for (const auto& name : listed) unnamed += named.count(name) ? 0 : 1;
    std::string xml = JUnitRenderer().render(report);
    auto result = test::xmllint(xml, "--noout");
    RC_ASSERT(result.status == 0);
    RC_ASSERT(xml.find("tests=\"" + std::to_string(findings + unnamed) + "\" failures=\"" + std::to_string(failing) +
                       "\"") != std::string::npos);
  });
}
