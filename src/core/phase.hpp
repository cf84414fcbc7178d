#pragma once
#include <optional>
#include <string_view>
#include <vector>

namespace metaguard {

// The moments of a run at which tensors are checked (CONTRACT.md, docs/ARCHITECTURE.md
// "Phases"), each with its one name, one sentence, and which kinds of tensor must hold
// data there. The initialization program (src/program/phase_program.hpp) is a table of these;
// the Python module takes its phase names from here, so a user's typo is caught by name.
enum class Phase { Init, Load, Broadcast, Materialize, BeforeTransfer, BeforeValidation, BeforeForward, BeforeSave };

struct PhaseInfo {
  Phase phase;
  std::string_view name;      // "before-validation"
  std::string_view sentence;  // what happens there, for help texts
  // Which kinds must hold data there: parameters, persistent buffers, non-persistent ones.
  bool parameters_hold_data;
  bool buffers_hold_data;
  bool nonpersistent_hold_data;
};

// Every phase, in the order a run passes them.
const std::vector<PhaseInfo>& all_phases();
std::optional<PhaseInfo> find_phase(std::string_view name);
const PhaseInfo& phase_info(Phase phase);
// "before-validation": the name reports, ledgers and CONTRACT.md use.
std::string_view to_string(Phase phase);

}  // namespace metaguard
