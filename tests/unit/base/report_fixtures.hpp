#pragma once
// Small builders for hand-made reports in the report/explain unit tests.
#include <string>
#include <vector>

#include "core/report.hpp"
#include "core/tensor_record.hpp"

namespace metaguard::test {

inline TensorRecord tensor(const std::string& name, const std::string& device = "cpu",
                           TensorKind kind = TensorKind::Parameter, std::vector<ProvenanceEvent> provenance = {}) {
  TensorRecord t;
  t.name = name;
  t.kind = kind;
  t.device = device;
  t.shape = {4, 2};
  t.numel = 8;
  t.nbytes = 32;
  if (device != "meta") t.storage = "s-" + name;
  t.requires_grad = kind == TensorKind::Parameter;
  t.provenance = std::move(provenance);
  return t;
}

inline Finding finding(const std::string& code, const std::string& tensor_name, Severity severity = Severity::Error,
                       std::optional<int> rank = std::nullopt, std::string phase = "before-forward") {
  Finding f;
  f.code = code;
  f.severity = severity;
  if (!tensor_name.empty()) f.tensor = tensor_name;
  f.rank = rank;
  f.phase = std::move(phase);
  f.message = tensor_name + " has a " + code + " problem";
  f.hint = "fix " + code;
  return f;
}

inline ProvenanceEvent event(const std::string& phase, const std::string& what, const std::string& device,
                             const std::string& detail = "") {
  return {phase, what, device, detail};
}

}  // namespace metaguard::test
