#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "core/report.hpp"

namespace metaguard {

// CONTRACT.md's report schema, both ways.
// With include_tensors false, "tensors" is null: JsonRenderer prints them itself.
nlohmann::json report_to_json(const Report& report, bool include_tensors = true);
nlohmann::json tensor_to_json(const TensorRecord& tensor);
nlohmann::json finding_to_json(const Finding& finding);

// Parses a report written by report_to_json; throws InputError naming `origin` and the
// field when the document does not follow the schema.
Report report_from_json(const nlohmann::json& document, const std::string& origin);

}  // namespace metaguard
