#include <unistd.h>

#include <cstdio>

#include <catch2/catch.hpp>

#include "support/run_process.hpp"

using metaguard::test::metaguard_exe;
using metaguard::test::run_process;

namespace {

// CONTRACT.md: usage errors are one line starting "metaguard: error: ", exit 2.
void require_one_error_line(const metaguard::test::ProcessResult& result, const std::string& mentions) {
  CHECK(result.exit_code == 2);
  CHECK(result.err.rfind("metaguard: error: ", 0) == 0);
  CHECK(result.err.find(mentions) != std::string::npos);
}

}  // namespace

TEST_CASE("help and version flags exit 0 and say what they should", "[cli]") {
  auto help = run_process({metaguard_exe(), "--help"});
  CHECK(help.exit_code == 0);
  for (const char* command : {"scan", "preflight", "train", "regress", "explain", "diff"}) {
    CHECK(help.out.find(command) != std::string::npos);
  }
  auto version = run_process({metaguard_exe(), "--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.rfind("metaguard ", 0) == 0);
  // It names the LibTorch it was built with (TorchConfigVersion's version, as CMake found
  // it) and the backends compiled in.
  CHECK(version.out.find(std::string("built with LibTorch ") + METAGUARD_EXPECT_TORCH_VERSION) != std::string::npos);
  CHECK(version.out.find(std::string("collective backends: ") + METAGUARD_BACKENDS + "\n") != std::string::npos);
  CHECK(version.out.find("gloo") != std::string::npos);
}

TEST_CASE("unknown commands and flags exit 2 with one error line", "[cli]") {
  auto command = run_process({metaguard_exe(), "frobnicate"});
  require_one_error_line(command, "frobnicate");
  auto flag = run_process({metaguard_exe(), "--frobnicate"});
  require_one_error_line(flag, "--frobnicate");
  auto none = run_process({metaguard_exe()});
  CHECK(none.exit_code == 2);
}

TEST_CASE("every subcommand has --help", "[cli]") {
  for (const char* command : {"scan", "preflight", "regress", "explain", "diff"}) {
    auto result = run_process({metaguard_exe(), command, "--help"});
    INFO(command << ": " << result.err);
    CHECK(result.exit_code == 0);
    CHECK(result.out.find("usage: metaguard") != std::string::npos);
  }
}

TEST_CASE("an output file never replaces the command's own input", "[cli]") {
  const std::string copy = "/tmp/metaguard-out-is-input-" + std::to_string(::getpid()) + ".json";
  auto made = run_process({metaguard_exe(), "scan", metaguard::test::source_path("fixtures/checkpoints/good/plain.pt"),
                           "--format", "json", "--out", copy});
  REQUIRE(made.exit_code == 0);
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{metaguard_exe(), "explain", copy, "--out", copy},
        std::vector<std::string>{metaguard_exe(), "diff", copy, copy, "--out", copy}}) {
    auto result = run_process(argv);
    CHECK(result.exit_code == 2);
    CHECK(result.err.find("input files") != std::string::npos);
  }
  auto report = run_process({metaguard_exe(), "explain", copy});
  CHECK(report.exit_code == 0);  // still the report it was
  std::remove(copy.c_str());
}

TEST_CASE("'metaguard help COMMAND' is that command's --help", "[cli]") {
  for (const char* command : {"scan", "preflight", "regress"}) {
    auto help = run_process({metaguard_exe(), "help", command});
    auto flag = run_process({metaguard_exe(), command, "--help"});
    INFO(command);
    CHECK(help.exit_code == 0);
    CHECK(help.out.find(std::string("usage: metaguard ") + command) != std::string::npos);
    CHECK(help.out == flag.out);
  }
  require_one_error_line(run_process({metaguard_exe(), "help", "frobnicate"}), "frobnicate");
}

TEST_CASE("flag values that would silently do the wrong thing are input errors", "[cli]") {
  const std::string checkpoint = metaguard::test::source_path("fixtures/checkpoints/good/plain.pt");
  // A seed of -1 would wrap around to 2^64-1; an empty or unclosed glob would allow nothing;
  // an empty --out would quietly print to the terminal.
  require_one_error_line(run_process({metaguard_exe(), "preflight", "--seed", "-1"}), "--seed '-1'");
  require_one_error_line(run_process({metaguard_exe(), "train", "--seed", "18446744073709551616"}), "--seed");
  require_one_error_line(run_process({metaguard_exe(), "scan", checkpoint, "--allow", ""}), "--allow");
  require_one_error_line(run_process({metaguard_exe(), "scan", checkpoint, "--allow", "proj.[w"}), "--allow 'proj.[w'");
  // Read as fnmatch reads them: every '[' is checked; a ']' first in a class is a member.
  for (const char* unclosed : {"a[0]b[1", "a[]", "a[!]", "a[\\]"}) {
    require_one_error_line(run_process({metaguard_exe(), "scan", checkpoint, "--allow", unclosed}), "never closed");
  }
  for (const char* fine : {"x\\[", "a[]b]", "a[!]b]*", "[[:alpha:]]*", "h.[0-9].attn"}) {
    auto result = run_process({metaguard_exe(), "scan", checkpoint, "--allow", fine});
    INFO(fine << ": " << result.err);
    CHECK(result.exit_code == 0);
  }
  require_one_error_line(run_process({metaguard_exe(), "scan", checkpoint, "--out", ""}), "--out");
  require_one_error_line(run_process({metaguard_exe(), "scan", checkpoint, checkpoint}), "scan");

  auto largest = run_process({metaguard_exe(), "preflight", "--seed", "18446744073709551615"});
  CHECK(largest.exit_code == 0);
  // '-' is standard output, as when --out is absent.
  auto dash = run_process({metaguard_exe(), "scan", checkpoint, "--out", "-"});
  auto plain = run_process({metaguard_exe(), "scan", checkpoint});
  CHECK(dash.exit_code == 0);
  CHECK(dash.out == plain.out);
  CHECK_FALSE(dash.out.empty());
}
