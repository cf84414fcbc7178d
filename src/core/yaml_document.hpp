#pragma once
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace metaguard {

// Parses YAML text (a LitGPT model_config.yaml: a mapping of plain scalars, lists and
// nested mappings, as PyYAML's dump writes it) into JSON: null (~, null, empty), booleans
// (true/false), integers, floats (also "1e-05", which PyYAML would leave a string; .inf and
// .nan included, which the reader of the value refuses) and strings; a quoted scalar is
// always a string. Aliases resolve to their anchors. A syntax error is an InputError naming
// `source` and the line.
nlohmann::json parse_yaml_document(const std::string& text, const std::string& source);

// Writes JSON as block-style YAML that PyYAML's safe_load (and parse_yaml_document) reads
// back to the same values: strings double-quoted, floats with a '.' in the mantissa.
std::string yaml_from_json(const nlohmann::json& value);

}  // namespace metaguard
