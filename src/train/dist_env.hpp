#pragma once
#include <optional>
#include <string>

namespace metaguard {

// Where this process sits in a distributed run, read from the variables torchrun sets
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so that
// `torchrun --no-python metaguard train ...` and metaguard's own launcher start ranks alike.
struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool launched_by_metaguard = false;  // METAGUARD_LAUNCHED=1: our launcher reads the run report
  // torchrun's elastic agent already serves the store on MASTER_PORT
  // (TORCHELASTIC_USE_AGENT_STORE=True): every rank connects as a client.
  bool agent_store = false;
  std::string run_id;     // TORCHELASTIC_RUN_ID (empty when not under torchrun)
  int restart_count = 0;  // TORCHELASTIC_RESTART_COUNT

  bool distributed() const { return world_size > 1; }

  // nullopt when RANK is not set (not started as a rank). Throws InputError naming the
  // variable when a value is malformed or inconsistent (RANK >= WORLD_SIZE, ...).
  static std::optional<DistEnv> from_environment();
};

}  // namespace metaguard
