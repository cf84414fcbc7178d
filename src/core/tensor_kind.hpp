#pragma once
#include <optional>
#include <string_view>

namespace metaguard {

// What role a tensor plays. Non-persistent buffers are never in a state dict, so no
// checkpoint restores them: they must be recomputed (the LitGPT lora_ind case).
enum class TensorKind { Parameter, Buffer, NonpersistentBuffer, CheckpointEntry };

std::string_view to_string(TensorKind kind);
std::optional<TensorKind> parse_tensor_kind(std::string_view text);
// For sentences: "Parameter", "Buffer", "Non-persistent buffer", "Checkpoint entry".
std::string_view kind_label(TensorKind kind);

// Parameters and persistent buffers: what a checkpoint holds and a broadcast replicates.
inline bool is_persistent(TensorKind kind) {
  return kind == TensorKind::Parameter || kind == TensorKind::Buffer;
}

}  // namespace metaguard
