// `metaguard regress`: the whole harness passes, a broken expectation fails with what was
// expected and what came out, JUnit is written, malformed scenarios are input errors.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "support/run_process.hpp"
#include "support/scratch_dir.hpp"

using metaguard::test::metaguard_exe;
using metaguard::test::run_process;
using metaguard::test::source_path;

namespace fs = std::filesystem;

namespace {

// A scratch copy of the scenario folder layout: DIR/scenarios/*.json beside DIR/checkpoints.
struct ScratchScenarios {
  metaguard::test::ScratchDir scratch;
  fs::path root = scratch.path();
  ScratchScenarios() { fs::create_directories(root / "scenarios"); }
  std::string dir() const { return (root / "scenarios").string(); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(root / "scenarios" / name) << text;
  }
};

}  // namespace

TEST_CASE("without DIR, regress finds the shipped scenarios from any working directory", "[regress]") {
  // --help shows the folder it would run: from '/', the one beside the executable.
  auto result = run_process({"/bin/sh", "-c", "cd / && exec \"$0\" regress --help", metaguard_exe()});
  INFO(result.out << result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.out.find("(=" + fs::weakly_canonical(source_path("fixtures/scenarios")).string() + ")") !=
        std::string::npos);
}

TEST_CASE("the shipped regression harness passes", "[regress]") {
  auto junit = fs::temp_directory_path() / ("metaguard-regress-" + std::to_string(::getpid()) + ".xml");
  auto result = run_process({metaguard_exe(), "regress", source_path("fixtures/scenarios"), "--format", "junit",
                             "--out", junit.string()},
                            900);
  INFO(result.out << result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.out.find(" failed") != std::string::npos);
  CHECK(result.out.find("0 failed") != std::string::npos);
  CHECK(result.out.find("FAIL ") == std::string::npos);
  std::ifstream in(junit);
  std::string xml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(xml.find("<testsuites") != std::string::npos);
  CHECK(xml.find("lora-ind-subset") != std::string::npos);
  CHECK(xml.find("<failure") == std::string::npos);
  fs::remove(junit);
}

TEST_CASE("a scenario whose expectation is not met fails and says why", "[regress]") {
  ScratchScenarios scratch;
  scratch.write("wrong.json", R"({
    "name": "expects-the-wrong-phase",
    "description": "lora_ind is caught at before-validation, not at init",
    "run": {"command": "preflight", "args": ["--inject", "lora-ind-meta"]},
    "expect": {"exit_code": 1, "findings": [{"code": "meta-nonpersistent-buffer", "tensor": ".*lora_ind", "phase": "init"}]}
  })");
  scratch.write("right.json", R"({
    "name": "clean",
    "description": "the default is clean",
    "run": {"command": "preflight", "args": []},
    "expect": {"exit_code": 0, "no_errors": true}
  })");
  auto result = run_process({metaguard_exe(), "regress", scratch.dir()}, 300);
  CHECK(result.exit_code == 1);
  CHECK(result.out.find("FAIL expects-the-wrong-phase") != std::string::npos);
  CHECK(result.out.find("PASS clean") != std::string::npos);
  CHECK(result.out.find("expected meta-nonpersistent-buffer on /.*lora_ind/ at init") != std::string::npos);
  CHECK(result.out.find("before-validation") != std::string::npos);  // what came out
  CHECK(result.out.find("1 passed, 1 failed") != std::string::npos);
}

TEST_CASE("malformed scenario files are input errors naming file and field", "[regress][cli]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"name": "x", "description": "y", "run": {"command": "preflight"}})", "expect: missing"},
      {R"({"name": "x", "description": "y", "run": {"command": "fly"}, "expect": {"exit_code": 0}})", "run.command"},
      {R"({"name": "x", "description": "y", "run": {"command": "scan"}, "expect": {"exit_code": "0"}})", "expect.exit_code"},
      {R"({"name": "x", "description": "y", "run": {"command": "scan"}, "expect": {"exit_code": 0, "findngs": []}})", "expect.findngs: unknown field"},
      {R"({"name": "x", "description": "y", "run": {"command": "scan"}, "expect": {"exit_code": 0, "findings": [{"code": "a", "tensor": "("}]}})", "findings[0].tensor"},
      {"{not json", "not valid JSON"},
      // A number JSON can write but no double holds (found by fuzzing the report reader).
      {R"({"name": 1e999})", "not valid JSON"},
  };
  for (const auto& [text, mentions] : cases) {
    ScratchScenarios scratch;
    scratch.write("bad.json", text);
    auto result = run_process({metaguard_exe(), "regress", scratch.dir()}, 60);
    INFO(text << " -> " << result.err);
    CHECK(result.exit_code == 2);
    CHECK(result.err.rfind("metaguard: error: scenario '", 0) == 0);
    CHECK(result.err.find("bad.json") != std::string::npos);
    CHECK(result.err.find(mentions) != std::string::npos);
  }
  auto missing = run_process({metaguard_exe(), "regress", "/nonexistent/scenarios"}, 60);
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("/nonexistent/scenarios") != std::string::npos);
}
