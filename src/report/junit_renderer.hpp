#pragma once
#include <vector>

#include "report/junit_xml.hpp"
#include "report/renderer.hpp"

namespace metaguard {

// JUnit XML for CI: one <testsuite> per report (named "<command> <source>") and one
// <testcase> per tensor check: every tensor the report lists, then tensors only findings
// name, then "(model)" for findings about no single tensor. A case fails when an error
// finding on it remains (not repaired, not allowed); warnings, info, allowed and repaired
// findings go to its <system-out>. The summary and training figures are suite properties.
class JUnitRenderer : public Renderer {
 public:
  std::string render(const Report& report) const override;
};

// The suite for one report (the regression harness combines several into one document).
JUnitSuite junit_suite(const Report& report);

}  // namespace metaguard
