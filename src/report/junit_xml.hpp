#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

// JUnit XML as plain data plus one writer, so that anything with pass/fail results (a
// report's tensor checks, the regression harness's scenarios) emits the same dialect that
// CI servers (Jenkins, GitLab, GitHub test reporters) read.
namespace metaguard {

struct JUnitFailure {
  std::string message;  // one line: shown in CI lists
  std::string type;     // e.g. the finding code
  std::string text;     // details: shown when a case is opened
};

struct JUnitCase {
  std::string name;
  std::string classname;
  std::optional<double> time_s;  // omitted when unknown (keeps golden files stable)
  std::optional<JUnitFailure> failure;
  std::optional<std::string> skipped;  // the reason
  std::string system_out;  // notes that are not failures (warnings, info)
};

struct JUnitSuite {
  std::string name;
  std::vector<std::pair<std::string, std::string>> properties;
  std::vector<JUnitCase> cases;
  std::optional<double> time_s;

  int failures() const;
  int skipped() const;
};

// A whole document: `<testsuites>` with totals (tests, failures, errors, skipped) ahead of
// every suite, then each suite with its own totals and properties. Always well-formed XML
// 1.0 in UTF-8, whatever bytes the names and messages hold (see escaping.hpp).
std::string write_junit(const std::string& name, const std::vector<JUnitSuite>& suites);

}  // namespace metaguard
