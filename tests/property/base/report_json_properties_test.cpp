// A JSON report parses back to the same findings and summary (issue "Foundation", test 5).
#include <cmath>

#include <catch2/catch.hpp>
#include <rapidcheck/catch.h>

#include "report/json_renderer.hpp"
#include "report/report_json.hpp"

using namespace metaguard;

namespace {

rc::Gen<std::string> gen_text() {
  // Printable text plus the characters JSON must escape.
  return rc::gen::container<std::string>(rc::gen::oneOf(rc::gen::inRange<char>(32, 127),
                                                        rc::gen::element('"', '\\', '\n', '\t')));
}

rc::Gen<TensorRecord> gen_tensor() {
  return rc::gen::exec([] {
    TensorRecord t;
    t.name = *gen_text();
    t.kind = *rc::gen::element(TensorKind::Parameter, TensorKind::Buffer, TensorKind::NonpersistentBuffer,
                               TensorKind::CheckpointEntry);
    t.dtype = *rc::gen::element<std::string>("float32", "bfloat16", "int64", "bool", "complex128");
    t.shape = *rc::gen::container<std::vector<int64_t>>(rc::gen::inRange<int64_t>(0, 1 << 20));
    t.device = *rc::gen::element<std::string>("meta", "cpu", "cuda:0");
    t.numel = *rc::gen::inRange<int64_t>(0, int64_t{1} << 40);
    t.nbytes = *rc::gen::inRange<int64_t>(0, int64_t{1} << 42);
    if (*rc::gen::arbitrary<bool>()) t.storage = "s" + std::to_string(*rc::gen::inRange(0, 100));
    t.storage_offset = *rc::gen::inRange<int64_t>(0, 1000);
    t.contiguous = *rc::gen::arbitrary<bool>();
    if (*rc::gen::arbitrary<bool>()) t.requires_grad = *rc::gen::arbitrary<bool>();
    const int events = *rc::gen::inRange(0, 4);
    for (int i = 0; i < events; ++i) t.provenance.push_back({*gen_text(), *gen_text(), *gen_text(), *gen_text()});
    t.uninitialized = *rc::gen::arbitrary<bool>();
    return t;
  });
}

rc::Gen<Finding> gen_finding() {
  return rc::gen::exec([] {
    Finding f;
    f.code = *rc::gen::element<std::string>("meta-parameter", "rank-divergence", "missing-key");
    f.severity = *rc::gen::element(Severity::Info, Severity::Warning, Severity::Error);
    if (*rc::gen::arbitrary<bool>()) f.tensor = *gen_text();
    if (*rc::gen::arbitrary<bool>()) f.rank = *rc::gen::inRange(0, 64);
    if (*rc::gen::arbitrary<bool>()) f.phase = *gen_text();
    f.message = *gen_text();
    f.hint = *gen_text();
    f.repaired = *rc::gen::arbitrary<bool>();
    f.allowed = f.severity == Severity::Info && *rc::gen::arbitrary<bool>();
    return f;
  });
}

}  // namespace

TEST_CASE("a JSON report parses back to the same tensors, findings and summary", "[property][report]") {
  rc::prop("render then parse is the identity on what the schema holds", [] {
    Report report;
    report.command = *rc::gen::element<std::string>("scan", "preflight", "train");
    report.source = *gen_text();
    report.tensors = *rc::gen::container<std::vector<TensorRecord>>(gen_tensor());
    report.findings = *rc::gen::container<std::vector<Finding>>(gen_finding());
    const auto byte_count = rc::gen::inRange<int64_t>(0, int64_t{1} << 50);
    const int rows = *rc::gen::inRange(0, 4);
    for (int r = 0; r < rows; ++r) {
      report.memory.push_back({r, *gen_text(), *byte_count, *byte_count, *byte_count});
    }
    if (*rc::gen::arbitrary<bool>()) {
      report.parameters = ParameterCounts{*byte_count, *byte_count, *byte_count, *byte_count};
    }

    std::string text = JsonRenderer().render(report);
    Report parsed = report_from_json(nlohmann::json::parse(text), "report.json");

    RC_ASSERT(parsed.command == report.command);
    RC_ASSERT(parsed.source == report.source);
    RC_ASSERT(parsed.findings == report.findings);
    RC_ASSERT(parsed.summary() == report.summary());
    RC_ASSERT(parsed.tensors.size() == report.tensors.size());
    for (size_t i = 0; i < report.tensors.size(); ++i) {
      const auto& a = parsed.tensors[i];
      const auto& b = report.tensors[i];
      RC_ASSERT(a.name == b.name);
      RC_ASSERT(a.kind == b.kind);
      RC_ASSERT(a.shape == b.shape);
      RC_ASSERT(a.storage == b.storage);
      RC_ASSERT(a.requires_grad == b.requires_grad);
      RC_ASSERT(a.provenance == b.provenance);
      RC_ASSERT(a.uninitialized == b.uninitialized);
    }
    RC_ASSERT(parsed.memory.size() == report.memory.size());
    for (size_t i = 0; i < report.memory.size(); ++i) {
      RC_ASSERT(parsed.memory[i].device == report.memory[i].device);
      RC_ASSERT(parsed.memory[i].total_bytes() == report.memory[i].total_bytes());
    }
    RC_ASSERT(parsed.parameters.has_value() == report.parameters.has_value());
    if (report.parameters) RC_ASSERT(parsed.parameters->frozen_tensors == report.parameters->frozen_tensors);
    RC_ASSERT(!parsed.extra.contains("memory"));  // typed, not left in the untyped sections
    // The summary in the file is what the report says, field by field.
    auto document = nlohmann::json::parse(text);
    RC_ASSERT(document["summary"]["errors"].get<int64_t>() == report.summary().errors);
    RC_ASSERT(document["schema"] == "metaguard.report/1");
  });
}

namespace {

// Any bytes: control characters, valid multi-byte UTF-8 and invalid sequences included.
rc::Gen<std::string> gen_any_text() {
  return rc::gen::container<std::string>(rc::gen::oneOf(
      rc::gen::inRange<char>(0, 127), rc::gen::element<char>('\x7f', '"', '\\'),
      rc::gen::element<char>('\xc3', '\xa9', '\xe6', '\x97', '\xa5', '\xff', '\x80', '\xf0')));
}

rc::Gen<double> gen_number() {
  return rc::gen::oneOf(rc::gen::element(0.0, -0.0, 1.0, 0.1, 1e-7, 1e17, 2.5e300, std::nan(""), HUGE_VAL),
                        rc::gen::map(rc::gen::arbitrary<int>(), [](int i) { return i / 7.0; }));
}

}  // namespace

TEST_CASE("the JSON renderer prints byte for byte what nlohmann prints for the same report", "[property][report]") {
  rc::prop("JsonRenderer().render(r) == report_to_json(r).dump(2) + newline", [] {
    Report report;
    report.command = *rc::gen::element<std::string>("scan", "preflight", "train");
    report.source = *gen_any_text();
    report.tensors = *rc::gen::container<std::vector<TensorRecord>>(rc::gen::exec([] {
      TensorRecord t = *gen_tensor();
      t.name = *gen_any_text();
      if (!t.provenance.empty()) t.provenance.back().detail = *rc::gen::element<std::string>("", "by recipe", "\x01\xff");
      if (*rc::gen::arbitrary<bool>()) t.rank = *rc::gen::inRange(0, 8);
      t.derived = *rc::gen::arbitrary<bool>();
      if (*rc::gen::arbitrary<bool>()) t.content_hash = *rc::gen::arbitrary<uint64_t>();
      return t;
    }));
    report.findings = *rc::gen::container<std::vector<Finding>>(gen_finding());
    if (*rc::gen::arbitrary<bool>()) {
      TrainingInfo training;
      training.losses = *rc::gen::container<std::vector<double>>(gen_number());
      if (*rc::gen::arbitrary<bool>()) training.final_loss = *gen_number();
      training.tokens_per_s = *gen_number();
      report.training = training;
    }
    report.extra["usage"] = {{"rank0", {{"cpu", *rc::gen::arbitrary<int64_t>()}, {"share", *gen_number()}}},
                              {"empty", nlohmann::json::object()},
                              {"list", nlohmann::json::array({*gen_any_text(), nullptr, true, *rc::gen::arbitrary<uint64_t>()})}};
    if (*rc::gen::arbitrary<bool>()) report.extra["a_first"] = nlohmann::json::array();

    const std::string expected =
        report_to_json(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    RC_ASSERT(JsonRenderer().render(report) == expected);
  });
}
