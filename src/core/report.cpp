#include "core/report.hpp"

namespace metaguard {

bool Summary::operator==(const Summary& other) const {
  return tensors == other.tensors && meta == other.meta && errors == other.errors &&
         warnings == other.warnings && repaired == other.repaired && allowed == other.allowed &&
         bytes_by_device == other.bytes_by_device;
}

Summary Report::summary() const {
  Summary summary;
  summary.tensors = static_cast<int64_t>(tensors.size());
  for (const auto& tensor : tensors) {
    if (tensor.is_meta()) ++summary.meta;
    summary.bytes_by_device[tensor.device] += tensor.nbytes;
  }
  for (const auto& finding : findings) {
    if (finding.repaired) {
      ++summary.repaired;
      continue;
    }
    if (finding.allowed) ++summary.allowed;
    if (finding.severity == Severity::Error) ++summary.errors;
    if (finding.severity == Severity::Warning) ++summary.warnings;
  }
  return summary;
}

MemoryColumns memory_columns(const std::vector<MemoryRow>& rows) {
  MemoryColumns columns;
  for (const auto& row : rows) {
    columns.gathered = columns.gathered || row.gathered_bytes > 0;
    columns.activations = columns.activations || row.activation_bytes > 0;
  }
  return columns;
}

}  // namespace metaguard
