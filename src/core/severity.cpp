#include "core/severity.hpp"

#include "core/tensor_kind.hpp"

namespace metaguard {

std::string_view to_string(Severity severity) {
  switch (severity) {
    case Severity::Info: return "info";
    case Severity::Warning: return "warning";
    case Severity::Error: return "error";
  }
  return "error";
}

std::optional<Severity> parse_severity(std::string_view text) {
  if (text == "info") return Severity::Info;
  if (text == "warning") return Severity::Warning;
  if (text == "error") return Severity::Error;
  return std::nullopt;
}

std::string_view to_string(TensorKind kind) {
  switch (kind) {
    case TensorKind::Parameter: return "parameter";
    case TensorKind::Buffer: return "buffer";
    case TensorKind::NonpersistentBuffer: return "nonpersistent_buffer";
    case TensorKind::CheckpointEntry: return "checkpoint_entry";
  }
  return "parameter";
}

std::string_view kind_label(TensorKind kind) {
  switch (kind) {
    case TensorKind::Parameter: return "Parameter";
    case TensorKind::Buffer: return "Buffer";
    case TensorKind::NonpersistentBuffer: return "Non-persistent buffer";
    case TensorKind::CheckpointEntry: return "Checkpoint entry";
  }
  return "Tensor";
}

std::optional<TensorKind> parse_tensor_kind(std::string_view text) {
  if (text == "parameter") return TensorKind::Parameter;
  if (text == "buffer") return TensorKind::Buffer;
  if (text == "nonpersistent_buffer") return TensorKind::NonpersistentBuffer;
  if (text == "checkpoint_entry") return TensorKind::CheckpointEntry;
  return std::nullopt;
}

}  // namespace metaguard
