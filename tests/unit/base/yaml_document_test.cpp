// The YAML reader and writer behind LitGPT's model_config.yaml (src/core/yaml_document):
// types as PyYAML writes and reads them, and hostile input as one input error.
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "core/yaml_document.hpp"
#include "support/input_error.hpp"

namespace {

using nlohmann::json;
using metaguard::parse_yaml_document;
using metaguard::test::input_error_of;
using metaguard::yaml_from_json;

}  // namespace

TEST_CASE("yaml: core types as PyYAML writes them, quoted text stays text, hostile input is an input error", "[yaml]") {
  json parsed = parse_yaml_document("a: 1\nb: -2.5e-3\nc: true\nd: False\ne: ~\nf: null\ng: '3'\nh: text\n"
                                    "i: [1, 2]\nj: {k: v}\nl:\n",
                                    "t.yaml");
  CHECK(parsed["a"] == 1);
  CHECK(parsed["b"] == -2.5e-3);
  CHECK(parsed["c"] == true);
  CHECK(parsed["d"] == false);
  CHECK(parsed["e"].is_null());
  CHECK(parsed["f"].is_null());
  CHECK(parsed["g"] == "3");
  CHECK(parsed["h"] == "text");
  CHECK(parsed["i"] == json({1, 2}));
  CHECK(parsed["j"]["k"] == "v");
  CHECK(parsed["l"].is_null());
  CHECK_THAT(input_error_of([] { parse_yaml_document("a: [\n", "bad.yaml"); }), Catch::Contains("bad.yaml") && Catch::Contains("line"));
  std::string deep(200, '[');
  CHECK_THAT(input_error_of([&] { parse_yaml_document(deep + std::string(200, ']'), "deep.yaml"); }), Catch::Contains("deeper"));
  // Aliases that double at every level (a "billion laughs") stop at a bound.
  std::string laughs = "a0: &a0 [x, x]\n";
  for (int i = 1; i < 40; ++i) laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + "]\n";
  CHECK_THAT(input_error_of([&] { parse_yaml_document(laughs, "laughs.yaml"); }), Catch::Contains("more than"));
  // Written back: the same values, text that looks like a number kept text.
  json value = {{"name", "1e5"}, {"n", 3}, {"x", 0.1}, {"f", 2.0}, {"on", true}, {"none", nullptr}, {"list", {1, 0, 1}}};
  CHECK(parse_yaml_document(yaml_from_json(value), "again") == value);
  // In the forms PyYAML (YAML 1.1) reads as the same types: a '.' in every float's
  // mantissa ("1e-05" is a string there), every string quoted ("on" is a bool there).
  const std::string yaml = yaml_from_json(json{{"eps", 1e-05}, {"big", 1e20}, {"word", "on"}});
  CHECK_THAT(yaml, Catch::Contains("eps: 1.0e-05") && Catch::Contains("big: 1.0e+20") &&
                       Catch::Contains("word: \"on\""));
  CHECK(parse_yaml_document("name: " + std::string(100000, '7') + "\n", "long.yaml")["name"].is_string());
}

