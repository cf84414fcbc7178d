// Every finding code, fault and report format the code knows is named where the docs promise:
// a code in docs/CHECKS.md and the contract, a fault in docs/SCENARIOS.md, the contract and a
// shipped scenario that injects it, a format in the contract. Adding one without its docs fails
// here; the lists come from the code (the registry, the cause catalog, the fault table, the
// renderer list), the names from the documents as written.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "checks/registry.hpp"
#include "core/fault.hpp"
#include "explain/cause_catalog.hpp"
#include "report/renderer.hpp"
#include "support/paths.hpp"

namespace {

std::string text_of(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// CONTRACT.md is shared and never edited here; what this project adds is in CONTRACT-ADDITIONS.md.
std::string contract() {
  return text_of(metaguard::test::source_path("../shared/docs/CONTRACT.md")) +
         text_of(metaguard::test::source_path("docs/CONTRACT-ADDITIONS.md"));
}

bool names(const std::string& document, const std::string& name) {
  return document.find("`" + name + "`") != std::string::npos;
}

// Every `--inject NAME` in the shipped scenarios' arguments.
std::string injected_in_scenarios() {
  std::string injected;
  for (const auto& entry : std::filesystem::directory_iterator(metaguard::test::source_path("fixtures/scenarios"))) {
    if (entry.path().extension() != ".json") continue;
    const auto scenario = nlohmann::json::parse(text_of(entry.path().string()));
    const auto& args = scenario.at("run").at("args");
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--inject") injected += " " + args[i + 1].get<std::string>() + " ";
    }
  }
  return injected;
}

}  // namespace

TEST_CASE("docs: every finding code is in docs/CHECKS.md and the contract, with a cause for explain", "[docs]") {
  const std::string checks = text_of(metaguard::test::source_path("docs/CHECKS.md"));
  const std::string terms = contract();
  for (const auto& cause : metaguard::cause_catalog()) {
    const std::string code(cause.code);
    INFO(code);
    CHECK(names(checks, code));
    CHECK(names(terms, code));
  }
  for (const auto& check : metaguard::all_checks()) {
    const std::string code(check->code());
    INFO(code);
    CHECK(checks.find("| `" + code + "` |") != std::string::npos);  // its row in the table
    CHECK_FALSE(metaguard::cause_for(code).fix.empty());              // explain knows it
  }
}

TEST_CASE("docs: every fault is in docs/SCENARIOS.md and the contract, and a shipped scenario injects it", "[docs]") {
  const std::string scenarios = text_of(metaguard::test::source_path("docs/SCENARIOS.md"));
  const std::string terms = contract();
  const std::string injected = injected_in_scenarios();
  for (const auto& fault : metaguard::fault_names()) {
    INFO(fault);
    CHECK(names(scenarios, fault));
    CHECK(names(terms, fault));
    CHECK(injected.find(" " + fault + " ") != std::string::npos);
  }
}

TEST_CASE("docs: every report format is in the contract", "[docs]") {
  const std::string terms = contract();
  for (const auto& format : metaguard::report_formats()) {
    INFO(format);
    CHECK(names(terms, format));
  }
}
