#include <catch2/catch.hpp>

#include <regex>

#include "report/html_renderer.hpp"
#include "report/renderer.hpp"
#include "report_fixtures.hpp"
#include "report_xmllint.hpp"

using namespace metaguard;
using metaguard::test::event;
using metaguard::test::finding;
using metaguard::test::tensor;

namespace {

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

struct Attribute {
  std::string tag;
  std::string name;
  std::string value;
};

// Every attribute of every tag, honouring quoted values (which may hold '>' escaped or not).
std::vector<Attribute> attributes(const std::string& html) {
  std::vector<Attribute> out;
  size_t i = 0;
  while ((i = html.find('<', i)) != std::string::npos) {
    ++i;
    if (i < html.size() && (html[i] == '/' || html[i] == '!')) continue;
    size_t name_end = html.find_first_of(" \t\n/>", i);
    std::string tag = html.substr(i, name_end - i);
    i = name_end;
    while (i < html.size() && html[i] != '>') {
      if (std::isspace(static_cast<unsigned char>(html[i])) || html[i] == '/') {
        ++i;
        continue;
      }
      size_t eq = html.find_first_of("= \t\n/>", i);
      Attribute a{tag, html.substr(i, eq - i), ""};
      i = eq;
      if (html[i] == '=') {
        char quote = html[i + 1];
        REQUIRE((quote == '"' || quote == '\''));  // the renderer always quotes
        size_t close = html.find(quote, i + 2);
        a.value = html.substr(i + 2, close - i - 2);
        i = close + 1;
      }
      out.push_back(a);
    }
  }
  return out;
}

Report training_report() {
  Report report;
  report.command = "train";
  report.source = "micro";
  std::vector<ProvenanceEvent> meta_only = {event("init", "created", "meta")};
  std::vector<ProvenanceEvent> loaded = {event("init", "created", "meta"),
                                         event("materialize", "materialized-empty", "cpu"),
                                         event("load", "loaded", "cpu", "from lit_model.pth")};
  report.tensors = {
      tensor("transformer.wte.weight", "cpu", TensorKind::Parameter, loaded),
      tensor("transformer.h.0.attn.attn.lora_ind", "meta", TensorKind::NonpersistentBuffer, meta_only),
      tensor("transformer.h.1.attn.attn.lora_ind", "meta", TensorKind::NonpersistentBuffer, meta_only),
      tensor("transformer.h.0.attn.attn.weight", "cpu", TensorKind::Parameter, loaded),
      tensor("<img src=x onerror=alert(1)>", "cpu"),
  };
  report.findings.push_back(finding("meta-nonpersistent-buffer", "transformer.h.0.attn.attn.lora_ind", Severity::Error, 1));
  report.findings.push_back(finding("meta-nonpersistent-buffer", "transformer.h.1.attn.attn.lora_ind", Severity::Error, 1));
  Finding hostile = finding("stale-derived-buffer", "<img src=x onerror=alert(1)>");
  hostile.message = "</p><script>alert('x')</script> & more";
  report.findings.push_back(hostile);
  TrainingInfo training;
  training.world_size = 2;
  training.steps = 4;
  training.losses = {5.5, 5.4, std::nan(""), 5.1};
  training.val_losses = {{0, 5.6}, {4, 5.2}};
  training.stopped = StopReason{"before-validation", 1, "2 tensors on meta"};
  report.training = training;
  for (int rank = 0; rank < 2; ++rank) {
    report.memory.push_back({rank, "cuda:" + std::to_string(rank), 1 << 20, 1 << 16, 1 << 17});
  }
  report.parameters = ParameterCounts{1000, 0, 0, 0};
  return report;
}

}  // namespace

TEST_CASE("report html: self-contained, nothing fetched, nothing run", "[report][html]") {
  std::string html = make_renderer("html")->render(training_report());
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("Content-Security-Policy\" content=\"default-src 'none'") != std::string::npos);
  CHECK(count(html, "<script") == 0);
  for (const auto& a : attributes(html)) {
    INFO(a.tag << " " << a.name << "=" << a.value);
    CHECK(a.name != "src");
    CHECK(a.name.rfind("on", 0) != 0);  // no event handlers
    if (a.name == "href") CHECK((a.value.rfind("#", 0) == 0 || a.value == "data:,"));
  }
  CHECK(count(html, "url(") == 0);
  CHECK(count(html, "@import") == 0);
  // The only URL is the SVG namespace name, which is never fetched.
  std::regex url("https?://[^\"]*");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), url); it != std::sregex_iterator(); ++it) {
    CHECK(it->str() == "http://www.w3.org/2000/svg");
  }
  CHECK(html.find("&lt;img src=x onerror=alert(1)&gt;") != std::string::npos);
  CHECK(html.find("&lt;/p&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more") == std::string::npos);
  CHECK(html.find("&lt;/p&gt;&lt;script&gt;alert('x')&lt;/script&gt; &amp; more") != std::string::npos);
}

TEST_CASE("report html: well-formed markup", "[report][html]") {
  std::string html = HtmlRenderer().render(training_report());
  for (const char* tag : {"section", "details", "svg", "article", "ul", "li", "p", "g", "summary"}) {
    INFO(tag);
    CHECK(count(html, std::string("<") + tag + ">") + count(html, std::string("<") + tag + " ") ==
          count(html, std::string("</") + tag + ">"));
  }
  if (!test::have_xmllint()) {
    WARN("xmllint not installed (Debian package libxml2-utils): XML structure not parsed");
    return;
  }
  auto result = test::xmllint(html, "--noout");
  INFO(result.output);
  CHECK(result.status == 0);
}

TEST_CASE("report html: findings, timelines, loss curve, memory and tree", "[report][html]") {
  Report report = training_report();
  std::string html = HtmlRenderer().render(report);
  INFO(html);
  // The two lora_ind findings tell one problem: one card naming both layers, the timeline
  // once, every finding in a collapsible list; the hostile one has no provenance recorded.
  CHECK(count(html, "<article class=\"finding error\">") == 2);
  CHECK(html.find("<code><b>transformer.h.{0,1}.attn.attn.lora_ind</b></code><span class=\"where\">rank 1 at "
                  "before-forward (2 findings)</span>") != std::string::npos);
  CHECK(html.find("<details><summary>every finding (2)</summary><ul class=\"mono\"><li>transformer.h.0.attn.attn.lora_ind "
                  "rank 1</li><li>transformer.h.1.attn.attn.lora_ind rank 1</li></ul></details>") != std::string::npos);
  CHECK(count(html, "<svg class=\"timeline\"") == 1);
  CHECK(count(html, "No provenance recorded for this tensor.") == 1);
  CHECK(html.find("<title>init: created on meta</title>") != std::string::npos);
  CHECK(html.find("<div class=\"verdict fail\">3 errors remain</div>") != std::string::npos);
  // Loss: the NaN splits the line in two; both validation losses are dots.
  CHECK(count(html, "<polyline class=\"loss-train\"") == 2);
  CHECK(count(html, "<circle class=\"loss-val\"") == 2);
  CHECK(html.find("<b>Stopped</b> at <code>before-validation</code> on rank 1") != std::string::npos);
  // One bar per memory row, labelled by rank and device.
  CHECK(count(html, "rank 0 \xC2\xB7 cuda:0</text>") == 1);
  CHECK(count(html, "rank 1 \xC2\xB7 cuda:1</text>") == 1);
  CHECK(count(html, "<rect class=\"seg2\"") == 3);  // legend + two bars
  CHECK(html.find("Parameters: 1000 trainable elements in 0 tensors, 0 frozen") != std::string::npos);
  // Tree: the meta buffers are red leaves and their modules open; the tensors fine are not.
  CHECK(count(html, "<li class=\"t s-meta\" title=\"transformer.h.0.attn.attn.lora_ind\">") == 1);
  CHECK(count(html, "<li class=\"t s-materialized\" title=\"transformer.wte.weight\">") == 1);
  CHECK(count(html, "<li class=\"t s-flagged\"") == 1);
  CHECK(html.find("<summary class=\"s-meta\"><span class=\"dot\"></span><code>h</code>") != std::string::npos);
  CHECK(html.find("<span class=\"chip s-meta\">2 meta</span>") != std::string::npos);
  CHECK(html.find("SUMMARY: 5 tensors, 2 meta, 3 errors") != std::string::npos);
}

TEST_CASE("report html: open errors come first, repaired last", "[report][html]") {
  Report report;
  report.command = "preflight";
  report.source = "micro";
  Finding fixed = finding("tied-weights-broken", "a");
  fixed.repaired = true;
  report.findings = {fixed, finding("dtype-mismatch", "b", Severity::Warning), finding("meta-parameter", "c")};
  std::string html = HtmlRenderer().render(report);
  size_t error = html.find("<article class=\"finding error\">");
  size_t warning = html.find("<article class=\"finding warning\">");
  size_t repaired = html.find("<article class=\"finding repaired\">");
  REQUIRE(error != std::string::npos);
  REQUIRE(warning != std::string::npos);
  REQUIRE(repaired != std::string::npos);
  CHECK(error < warning);
  CHECK(warning < repaired);
}

TEST_CASE("report html: a clean scan without training or memory", "[report][html]") {
  Report report;
  report.command = "scan";
  report.source = "model.safetensors";
  report.tensors = {tensor("w1", "cpu"), tensor("w2", "meta")};
  std::string html = HtmlRenderer().render(report);
  CHECK(html.find("No findings.") != std::string::npos);
  CHECK(html.find("<div class=\"verdict pass\">No error remains</div>") != std::string::npos);
  CHECK(html.find("id=\"training\"") == std::string::npos);
  CHECK(html.find("<h2>Tensor bytes by device</h2>") != std::string::npos);
  CHECK(count(html, "<rect class=\"seg0\"") == 2);  // cpu and meta, no legend for one segment
}
