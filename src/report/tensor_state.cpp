#include "report/tensor_state.hpp"

namespace metaguard {

std::string_view to_string(TensorState state) {
  switch (state) {
    case TensorState::Materialized: return "materialized";
    case TensorState::Meta: return "meta";
    case TensorState::Uninitialized: return "uninitialized";
    case TensorState::Flagged: return "flagged";
    case TensorState::Repaired: return "repaired";
    case TensorState::Allowed: return "allowed";
  }
  return "materialized";
}

int severity_rank(TensorState state) {
  switch (state) {
    case TensorState::Materialized: return 0;
    case TensorState::Allowed: return 1;
    case TensorState::Repaired: return 2;
    case TensorState::Flagged: return 3;
    case TensorState::Uninitialized: return 4;
    case TensorState::Meta: return 5;
  }
  return 0;
}

std::map<std::string, TensorState> tensor_states(const Report& report) {
  struct Marks {
    bool meta = false;
    bool uninitialized = false;
    bool open = false;
    bool repaired = false;
    bool allowed = false;
  };
  std::map<std::string, Marks> marks;
  for (const auto& tensor : report.tensors) {
    Marks& m = marks[tensor.name];
    m.meta = m.meta || tensor.is_meta();
    m.uninitialized = m.uninitialized || tensor.uninitialized;
  }
  for (const auto& finding : report.findings) {
    if (!finding.tensor) continue;
    Marks& m = marks[*finding.tensor];
    if (finding.allowed) {
      m.allowed = true;
    } else if (finding.repaired) {
      m.repaired = true;
    } else if (finding.severity != Severity::Info) {
      m.open = true;
    }
  }
  std::map<std::string, TensorState> states;
  for (const auto& [name, m] : marks) {
    TensorState state = TensorState::Materialized;
    if (m.allowed) {
      state = TensorState::Allowed;
    } else if (m.meta) {
      state = TensorState::Meta;
    } else if (m.uninitialized) {
      state = TensorState::Uninitialized;
    } else if (m.open) {
      state = TensorState::Flagged;
    } else if (m.repaired) {
      state = TensorState::Repaired;
    }
    states.emplace(name, state);
  }
  return states;
}

}  // namespace metaguard
