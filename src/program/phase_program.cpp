#include "program/phase_program.hpp"

#include <torch/torch.h>

namespace metaguard {
namespace {

// The steps (each in init_program.cpp), in the shape the table wants.
void init_step(RankSession& session, const InitPlan& plan, Replicator&) {
  session.guard().record(std::string(to_string(Phase::Init)));  // the build as constructed
  run_init_step(session, plan);
}

void load_step(RankSession& session, const InitPlan& plan, Replicator&) {
  LoadResult loaded = run_load_step(session, plan);
  // Under --strategy shard every rank reads its own slices of a whole-model resume.
  if (plan.resume && (session.rank() == 0 || plan.shard)) plan.resume(session);
  session.finish_load(std::move(loaded));
}

void broadcast_step(RankSession& session, const InitPlan& plan, Replicator& replicator) {
  run_broadcast_step(session, plan, replicator);
}

void materialize_step(RankSession& session, const InitPlan& plan, Replicator&) {
  // move-with-meta relies on moving the model instead (the bug, at before-transfer).
  if (!plan.has(Fault::MoveWithMeta)) run_materialize_step(session, plan);
  if (plan.has(Fault::OptimizerBeforeReplace)) replace_trainable_parameters(session);
}

void transfer_step(RankSession& session, const InitPlan& plan, Replicator&) { session.model()->to(plan.device); }

bool always(const InitPlan&) { return true; }
bool has_something_to_load(const InitPlan& plan) { return plan.checkpoint || plan.resume; }
bool several_ranks(const InitPlan& plan) { return plan.world_size > 1; }
bool moves_the_model(const InitPlan& plan) { return plan.has(Fault::MoveWithMeta); }

// A meta build holds nothing yet; a direct one holds everything.
DataNeeds init_needs(const InitPlan& plan, int) { return plan.meta_init ? DataNeeds::none() : DataNeeds::all(); }
DataNeeds load_needs(const InitPlan& plan, int rank) {
  return plan.holds_data_after_load(rank) ? DataNeeds::persistent() : DataNeeds::none();
}
DataNeeds persistent_needs(const InitPlan&, int) { return DataNeeds::persistent(); }
DataNeeds all_needs(const InitPlan&, int) { return DataNeeds::all(); }

}  // namespace

const std::vector<ProgramPhase>& init_program() {
  // Columns: phase, passes when, step, check, check before the step, what holds data,
  // names the target device, the loop's first forward.
  static const std::vector<ProgramPhase> program = {
      {Phase::Init, always, init_step, PhaseCheck::OneRank, false, init_needs, false, false},
      {Phase::Load, has_something_to_load, load_step, PhaseCheck::OneRank, false, load_needs, false, false},
      {Phase::Broadcast, several_ranks, broadcast_step, PhaseCheck::AcrossRanks, false, persistent_needs, false, false},
      {Phase::Materialize, always, materialize_step, PhaseCheck::Recorded, false, all_needs, false, false},
      {Phase::BeforeTransfer, moves_the_model, transfer_step, PhaseCheck::OneRank, true, all_needs, true, false},
      {Phase::BeforeValidation, always, nullptr, PhaseCheck::AcrossRanks, false, all_needs, false, true},
  };
  return program;
}

void ProgramRunner::run_program(const InitPlan& plan) {
  for (const ProgramPhase& phase : init_program()) {
    if (!phase.passes(plan)) continue;
    entering(phase);
    const bool checked = phase.check != PhaseCheck::Recorded;
    if (checked && phase.check_before_step) check_phase(phase, plan);
    if (phase.step) {
      for (RankSession* session : sessions()) phase.step(*session, plan, replicator());
    }
    if (!checked) {
      for (RankSession* session : sessions()) session->guard().record(std::string(to_string(phase.phase)));
    } else if (!phase.check_before_step) {
      // A step's own findings (the loader's missing-key, ...) join the rank's after the
      // check, which may have repaired what they name; if the check stops the run, they
      // explain the stop.
      try {
        check_phase(phase, plan);
      } catch (...) {
        for (RankSession* session : sessions()) session->keep_step_findings(false);
        throw;
      }
      for (RankSession* session : sessions()) session->keep_step_findings(true);
    }
    finished(phase);
  }
}

}  // namespace metaguard
