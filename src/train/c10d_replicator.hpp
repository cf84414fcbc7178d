#pragma once
#include <string>
#include <vector>

#include "preflight/init_program.hpp"
#include "train/communicator.hpp"

namespace metaguard {

// The real broadcast behind the shared init program: rank 0 sends, every other rank
// receives into its own tensors (allocated in place first if still meta, so module
// members, aliases and optimizers keep seeing them). Every rank must call replicate()
// with the same names in the same order; the first collective checks that they do (names,
// shapes and dtypes), so a mismatch is an error on every rank instead of a hang or garbage.
// Rank 0 then says which names it can send at all (a tensor still meta on rank 0 has no
// data); only those are broadcast. Gloo refuses bool tensors, so they travel as uint8.
class C10dReplicator : public Replicator {
 public:
  explicit C10dReplicator(Communicator& communicator) : communicator_(communicator) {}
  std::vector<std::string> replicate(RankSession& session, const std::vector<std::string>& names) override;

 private:
  Communicator& communicator_;
};

}  // namespace metaguard
