#include <catch2/catch.hpp>

#include <sstream>

#include "report/markdown_renderer.hpp"
#include "report/renderer.hpp"
#include "report_fixtures.hpp"

using namespace metaguard;
using metaguard::test::event;
using metaguard::test::finding;
using metaguard::test::tensor;

namespace {

// Column separators GFM sees on a table line: pipes not preceded by a backslash.
int columns(const std::string& line) {
  int pipes = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) ++pipes;
  }
  return pipes;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("report markdown: hostile names keep every table rectangular", "[report][markdown]") {
  Report report;
  report.command = "scan";
  report.source = "weird|file.pt";
  report.tensors = {tensor("a|b.weight", "meta", TensorKind::Parameter, {event("init", "created", "meta")}),
                    tensor("line\nbreak", "cpu"), tensor("`tick`", "cpu")};
  Finding f = finding("meta-parameter", "a|b.weight");
  f.message = "value | with pipe\nand <b>html</b>";
  f.hint = "use *stars* and [links](x)";
  report.findings.push_back(f);
  report.memory.push_back({0, "cuda|0", 2048, 0, 0});

  std::string md = make_renderer("md")->render(report);
  INFO(md);
  auto lines = lines_of(md);
  int table_columns = -1;
  int tables = 0;
  for (const auto& line : lines) {
    if (line.rfind("|", 0) != 0) {
      table_columns = -1;
      continue;
    }
    if (table_columns < 0) {
      table_columns = columns(line);
      ++tables;
    }
    CHECK(columns(line) == table_columns);
  }
  CHECK(tables == 4);  // counts, findings, memory, tensors
  CHECK(md.find("value \\| with pipe and \\<b\\>html\\</b\\>") != std::string::npos);
  CHECK(md.find("use \\*stars\\* and \\[links\\](x)") != std::string::npos);
  CHECK(md.find("`a\\|b.weight`") != std::string::npos);
  CHECK(md.find("``` `tick` ```") == std::string::npos);
  CHECK(md.find("`` `tick` ``") != std::string::npos);
  CHECK(md.find("init: created (meta)") != std::string::npos);
  CHECK(md.rfind("SUMMARY: 3 tensors, 1 meta, 1 errors") != std::string::npos);
  CHECK(lines.back().rfind("SUMMARY: ", 0) == 0);
  CHECK(md.find("**1 error remains** (exit 1)") != std::string::npos);
}

TEST_CASE("report markdown: training, verdict and empty sections", "[report][markdown]") {
  Report report;
  report.command = "train";
  report.source = "micro";
  TrainingInfo training;
  training.world_size = 2;
  training.steps = 3;
  training.losses = {5.5, 5.25, 5.0};
  training.val_losses = {{0, 5.75}, {3, 5.125}};
  training.final_loss = 5.0;
  training.stopped = StopReason{"before-validation", 1, "2 tensors on meta"};
  report.training = training;

  std::string md = MarkdownRenderer().render(report);
  INFO(md);
  CHECK(md.find("**No error remains** (exit 0)") != std::string::npos);
  CHECK(md.find("No findings.") != std::string::npos);
  CHECK(md.find("No tensors listed.") != std::string::npos);
  CHECK(md.find("**Stopped** at before-validation on rank 1: 2 tensors on meta") != std::string::npos);
  CHECK(md.find("Training loss: 5.5000 at the first step, 5.0000 at the last, lowest 5.0000.") != std::string::npos);
  CHECK(md.find("| 3 | 5.1250 |") != std::string::npos);
  CHECK(md.find("| 2 | 3 | 0 | 0 | 5.0000 | 0 |") != std::string::npos);
}
