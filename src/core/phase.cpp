#include "core/phase.hpp"

namespace metaguard {

const std::vector<PhaseInfo>& all_phases() {
  // At a meta `init` nothing must hold data; a load or a broadcast fills parameters and
  // persistent buffers (no file or collective carries non-persistent ones); from
  // `materialize` on, every tensor must.
  static const std::vector<PhaseInfo> phases = {
      {Phase::Init, "init", "the model is built (on meta, or with first values)", false, false, false},
      {Phase::Load, "load", "a checkpoint is read into the model", true, true, false},
      {Phase::Broadcast, "broadcast", "ranks receive rank 0's parameters and persistent buffers", true, true, false},
      {Phase::Materialize, "materialize", "derived buffers are recomputed on every rank", true, true, true},
      {Phase::BeforeTransfer, "before-transfer", "the model is about to move to its device", true, true, true},
      {Phase::BeforeValidation, "before-validation", "the first validation forward is about to run", true, true, true},
      {Phase::BeforeForward, "before-forward", "a forward pass is about to run", true, true, true},
      {Phase::BeforeSave, "before-save", "a checkpoint is about to be written", true, true, true},
  };
  return phases;
}

std::optional<PhaseInfo> find_phase(std::string_view name) {
  for (const auto& info : all_phases()) {
    if (info.name == name) return info;
  }
  return std::nullopt;
}

const PhaseInfo& phase_info(Phase phase) {
  for (const auto& info : all_phases()) {
    if (info.phase == phase) return info;
  }
  return all_phases().front();  // unreachable: every Phase has a row
}

std::string_view to_string(Phase phase) { return phase_info(phase).name; }

}  // namespace metaguard
