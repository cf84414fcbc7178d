// The HTML report in a real browser: Debian's headless Chromium renders it to a screenshot
// and dumps the DOM it built; the page must show the findings' text and log no console
// message (no script error, no blocked fetch: the page's Content-Security-Policy reports
// any attempt to load something as a console message).
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "integration/explain_process.hpp"
#include "report/renderer.hpp"

using metaguard::test::run_process;
using metaguard::test::TempDir;

namespace {

constexpr const char* kChromium = "/usr/bin/chromium";

metaguard::Report failed_training_report() {
  using namespace metaguard;
  Report report;
  report.command = "train";
  report.source = "micro";
  auto record = [](const std::string& name, TensorKind kind, const std::string& device,
                   std::vector<ProvenanceEvent> provenance) {
    TensorRecord t;
    t.name = name;
    t.kind = kind;
    t.device = device;
    t.shape = {64};
    t.numel = 64;
    t.nbytes = 256;
    if (device != "meta") t.storage = "s-" + name;
    t.provenance = std::move(provenance);
    return t;
  };
  std::vector<ProvenanceEvent> loaded = {{"init", "created", "meta", ""},
                                         {"materialize", "materialized-empty", "cpu", "to_empty"},
                                         {"load", "loaded", "cpu", "lit_model.pth"}};
  for (int layer = 0; layer < 3; ++layer) {
    std::string prefix = "transformer.h." + std::to_string(layer) + ".attn.attn.";
    report.tensors.push_back(record(prefix + "weight", TensorKind::Parameter, "cpu", loaded));
    report.tensors.push_back(record(prefix + "lora_ind", TensorKind::NonpersistentBuffer, "meta",
                                    {{"init", "created", "meta", ""}}));
    Finding f;
    f.code = "meta-nonpersistent-buffer";
    f.tensor = prefix + "lora_ind";
    f.rank = 1;
    f.phase = "before-validation";
    f.message = prefix + "lora_ind is a non-persistent buffer still on meta before validation";
    f.hint = "recompute it after materialization or run with --on-meta repair";
    report.findings.push_back(f);
  }
  Finding hostile;
  hostile.code = "stale-derived-buffer";
  hostile.tensor = "transformer.h.0.attn.attn.weight";
  hostile.message = "<script>console.error('injected')</script><img src=\"https://example.com/x.png\"> & friends";
  report.findings.push_back(hostile);
  TrainingInfo training;
  training.world_size = 2;
  training.steps = 30;
  for (int step = 0; step < 20; ++step) training.losses.push_back(5.6 - 0.4 * std::log1p(step));
  training.val_losses = {{0, 5.63}, {10, 4.9}, {20, 4.7}};
  training.stopped = StopReason{"before-validation", 1, "3 tensors on meta"};
  report.training = training;
  for (int rank = 0; rank < 2; ++rank) {
    report.memory.push_back({rank, "cuda:" + std::to_string(rank), 3 << 20, 1 << 18, 1 << 19});
  }
  return report;
}

std::vector<std::string> chromium_args(const TempDir& profile) {
  return {kChromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--user-data-dir=" + profile.path()};
}

// Chromium's log lines for the page's console (errors, CSP violations, uncaught exceptions).
std::vector<std::string> console_lines(const std::string& log) {
  std::vector<std::string> found;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.find(":CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos ||
        line.find("Content Security Policy") != std::string::npos) {
      found.push_back(line);
    }
  }
  return found;
}

uint32_t big_endian(const std::string& bytes, size_t at) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

}  // namespace

TEST_CASE("html report: opens in headless Chromium with its text and no console errors", "[html][chromium]") {
  if (::access(kChromium, X_OK) != 0) {
    WARN("skipped: /usr/bin/chromium is not installed (Debian package 'chromium')");
    SUCCEED();
    return;
  }
  TempDir dir;
  std::string page = dir.write("report.html", metaguard::make_renderer("html")->render(failed_training_report()));
  std::string url = "file://" + page;

  SECTION("the DOM Chromium builds holds the report and the console stays silent") {
    TempDir profile;
    auto args = chromium_args(profile);
    for (const char* arg : {"--enable-logging=stderr", "--v=0", "--dump-dom"}) args.push_back(arg);
    args.push_back(url);
    auto result = run_process(args, 90);
    REQUIRE_FALSE(result.timed_out);
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(console_lines(result.err).empty());
    const std::string& dom = result.out;
    CHECK(dom.find("<title>metaguard train: micro</title>") != std::string::npos);
    // The three layers' findings are one problem: one card naming them all, each listed.
    CHECK(dom.find("transformer.h.{0..2}.attn.attn.lora_ind is a non-persistent buffer still on meta before validation") !=
          std::string::npos);
    for (int layer = 0; layer < 3; ++layer) {
      CHECK(dom.find("<li>transformer.h." + std::to_string(layer) + ".attn.attn.lora_ind rank 1</li>") != std::string::npos);
    }
    CHECK(dom.find("recompute it after materialization or run with --on-meta repair") != std::string::npos);
    CHECK(dom.find("4 errors remain") != std::string::npos);
    CHECK(dom.find("on rank 1: 3 tensors on meta") != std::string::npos);
    CHECK(dom.find("<svg class=\"timeline\"") != std::string::npos);
    CHECK(dom.find("<polyline class=\"loss-train\"") != std::string::npos);
    CHECK(dom.find("Memory per rank and device") != std::string::npos);
    CHECK(dom.find("Module tree (6 tensors)") != std::string::npos);
    CHECK(dom.find("SUMMARY: 6 tensors, 3 meta, 4 errors") != std::string::npos);
    // The hostile message is text, not markup: no element was made from it.
    CHECK(dom.find("<script") == std::string::npos);
    CHECK(dom.find("<img") == std::string::npos);
    CHECK(dom.find("&lt;script&gt;console.error('injected')&lt;/script&gt;") != std::string::npos);
  }

  SECTION("it renders to a screenshot of the requested size") {
    TempDir profile;
    std::string shot = dir.file("report.png");
    auto args = chromium_args(profile);
    args.push_back("--screenshot=" + shot);
    args.push_back("--window-size=1200,2000");
    args.push_back(url);
    auto result = run_process(args, 90);
    REQUIRE_FALSE(result.timed_out);
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    std::string png = metaguard::test::slurp(shot);
    REQUIRE(png.size() > 24);
    CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
    CHECK(png.compare(12, 4, "IHDR") == 0);
    CHECK(big_endian(png, 16) == 1200);
    CHECK(big_endian(png, 20) == 2000);
    // A blank page compresses to a few KiB; this one has charts, colours and text.
    CHECK(png.size() > 40000);
  }
}
