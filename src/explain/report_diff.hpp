#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/report.hpp"

namespace metaguard {

struct FieldChange {
  std::string field;  // "device", "provenance", ...
  std::string a;
  std::string b;
};

struct TensorChange {
  std::string tensor;
  std::optional<int> rank;  // set when both reports list several ranks' tensors
  std::vector<FieldChange> changes;
};

// How two reports differ tensor by tensor (rank 0 against rank 1, a good run against a
// failed one). Compared per tensor: kind, dtype, shape, device, storage sharing (which other
// tensors share its storage: ids themselves are per-process), storage offset, contiguity,
// uninitialized, requires_grad, derived, content hash (when both have one) and the
// provenance sequence (phase, event, device; details are free text and are not compared).
// Findings are compared by code, tensor, phase, severity, repaired and allowed: ranks and
// messages differ between ranks by nature.
// Multi-rank reports (a preflight lists every rank's tensors, each with its rank) hold the
// same name once per rank: when both reports name several ranks, a tensor is (rank, name)
// and findings are compared with their rank too; otherwise ranks are not compared.
struct ReportDiff {
  std::string label_a;
  std::string label_b;
  bool by_rank = false;                // tensors and findings were matched with their rank
  std::vector<std::string> only_in_a;  // tensor labels (tensor_label), rank then natural order
  std::vector<std::string> only_in_b;
  std::vector<TensorChange> changed;   // in A's order
  std::vector<Finding> findings_only_in_a;
  std::vector<Finding> findings_only_in_b;

  bool identical() const;
  // 0 when identical, 1 when they differ (as diff(1)).
  int exit_code() const { return identical() ? 0 : 1; }
};

// "transformer.wte.weight", or "transformer.wte.weight (rank 1)" for a rank's tensor.
std::string tensor_label(const std::string& name, std::optional<int> rank);
// True when the report's tensors or findings name more than one rank.
bool is_multi_rank(const Report& report);

ReportDiff diff_reports(const Report& a, const Report& b, std::string label_a, std::string label_b);

// `metaguard diff`'s formats: text (default) and json.
std::vector<std::string> diff_formats();
// Throws InputError naming --format for an unknown format.
void require_diff_format(std::string_view format);
std::string render_diff(const ReportDiff& diff, std::string_view format);
nlohmann::json diff_to_json(const ReportDiff& diff);
std::string diff_to_text(const ReportDiff& diff);

}  // namespace metaguard
