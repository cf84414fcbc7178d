// The initialization program's table (program/phase_program): its order, the phases each
// plan passes, where checks run relative to steps, and its agreement with the fault table
// and core/phase's "what holds data where".
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "core/fault.hpp"
#include "core/phase.hpp"
#include "program/phase_program.hpp"

using namespace metaguard;

namespace {

// A runner with no ranks: steps have nobody to run on, so what it sees is the sequence the
// program walks for a plan (entered, checked, finished, in order).
class RecordingRunner : public ProgramRunner {
 public:
  std::vector<std::string> events;

 protected:
  std::vector<RankSession*> sessions() override { return {}; }
  Replicator& replicator() override { throw std::logic_error("no step runs without ranks"); }
  void check_phase(const ProgramPhase& phase, const InitPlan&) override {
    events.push_back("check " + std::string(to_string(phase.phase)));
  }
  void entering(const ProgramPhase& phase) override { events.push_back("enter " + std::string(to_string(phase.phase))); }
  void finished(const ProgramPhase& phase) override { events.push_back("done " + std::string(to_string(phase.phase))); }
};

std::vector<std::string> walk(const InitPlan& plan) {
  RecordingRunner runner;
  runner.run_program(plan);
  return runner.events;
}

std::vector<std::string> passed(const InitPlan& plan) {
  std::vector<std::string> out;
  for (const auto& phase : init_program()) {
    if (phase.passes(plan)) out.emplace_back(to_string(phase.phase));
  }
  return out;
}

// The plan that makes `fault` reproducible: enough ranks, a meta build, something to load.
InitPlan plan_for(Fault fault) {
  InitPlan plan;
  plan.world_size = std::max(1, min_ranks(fault));
  plan.faults = {fault};
  plan.resume = [](RankSession&) {};
  return plan;
}

}  // namespace

TEST_CASE("the program's phases run in the order core/phase lists them, each once") {
  std::vector<size_t> positions;
  for (const auto& phase : init_program()) {
    const auto& all = all_phases();
    auto it = std::find_if(all.begin(), all.end(), [&](const PhaseInfo& info) { return info.phase == phase.phase; });
    REQUIRE(it != all.end());
    positions.push_back(static_cast<size_t>(it - all.begin()));
  }
  CHECK(std::is_sorted(positions.begin(), positions.end()));
  CHECK(std::adjacent_find(positions.begin(), positions.end()) == positions.end());
  CHECK(init_program().back().first_forward);
}

TEST_CASE("a one-rank meta build with nothing to load passes init, materialize and the first forward") {
  InitPlan plan;
  CHECK(walk(plan) == std::vector<std::string>{"enter init", "check init", "done init", "enter materialize",
                                               "done materialize", "enter before-validation",
                                               "check before-validation", "done before-validation"});
}

TEST_CASE("several ranks add the broadcast; a checkpoint or a resume adds the load") {
  InitPlan plan;
  plan.world_size = 2;
  using Names = std::vector<std::string>;
  CHECK(passed(plan) == Names{"init", "broadcast", "materialize", "before-validation"});
  plan.resume = [](RankSession&) {};
  CHECK(passed(plan) == Names{"init", "load", "broadcast", "materialize", "before-validation"});
}

TEST_CASE("before-transfer checks before its step: the check guards the move") {
  InitPlan plan;
  plan.faults = {Fault::MoveWithMeta};
  std::vector<std::string> events = walk(plan);
  auto at = std::find(events.begin(), events.end(), "enter before-transfer");
  REQUIRE(at != events.end());
  CHECK(*(at + 1) == "check before-transfer");
  CHECK(*(at + 2) == "done before-transfer");
}

TEST_CASE("every fault perturbs a phase the program passes when the fault is injected") {
  for (const auto& name : fault_names()) {
    const Fault fault = *parse_fault(name);
    std::vector<std::string> phases = passed(plan_for(fault));
    const std::string perturbed(to_string(perturbed_phase(fault)));
    INFO(name << " perturbs " << perturbed);
    CHECK(std::find(phases.begin(), phases.end(), perturbed) != phases.end());
  }
}

TEST_CASE("what must hold data at each checked phase agrees with core/phase for a rank that holds its tensors") {
  InitPlan plan;
  plan.meta_init = false;  // a direct build (one rank): it holds data from the start
  plan.resume = [](RankSession&) {};
  for (const auto& phase : init_program()) {
    if (phase.check == PhaseCheck::Recorded || phase.phase == Phase::Init) continue;
    const PhaseInfo& info = phase_info(phase.phase);
    DataNeeds needs = phase.needs(plan, 0);
    INFO(info.name);
    CHECK(needs.parameters == info.parameters_hold_data);
    CHECK(needs.buffers == info.buffers_hold_data);
    CHECK(needs.nonpersistent == info.nonpersistent_hold_data);
  }
}

TEST_CASE("a meta build needs nothing at init; a rank that does not load needs nothing at load") {
  InitPlan plan;
  plan.world_size = 2;
  plan.resume = [](RankSession&) {};
  for (const auto& phase : init_program()) {
    if (phase.phase == Phase::Init || phase.phase == Phase::Load) {
      DataNeeds needs = phase.needs(plan, 1);
      CHECK_FALSE((needs.parameters || needs.buffers || needs.nonpersistent));
    }
  }
  const auto& load = *std::find_if(init_program().begin(), init_program().end(),
                                   [](const ProgramPhase& phase) { return phase.phase == Phase::Load; });
  CHECK(load.needs(plan, 0).parameters);  // rank 0 resumes
}
