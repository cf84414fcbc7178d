#pragma once
#include <string>
#include <vector>

#include "program/init_program.hpp"
#include "program/sharded_tensors.hpp"
#include "train/communicator.hpp"

namespace metaguard {

// The real broadcast behind the shared init program: rank 0 sends, every other rank
// receives into its own tensors (allocated in place first if still meta, so module
// members, aliases and optimizers keep seeing them). Every rank must call replicate()
// with the same names in the same order; the first collective checks that they do (names,
// shapes and dtypes), so a mismatch is an error on every rank instead of a hang or garbage.
// Rank 0 then says which names it can send at all (a tensor still meta on rank 0 has no
// data); only those are broadcast. Gloo refuses bool tensors, so they travel as uint8.
// A received tensor lives on `device`, the rank's compute device, whatever device the
// collective staged it through (Gloo: the host).
//
// It also gathers a sharded run's slices (SliceGatherer): the communicator's all-gather.
class C10dReplicator : public Replicator, public SliceGatherer {
 public:
  C10dReplicator(Communicator& communicator, torch::Device device) : communicator_(communicator), device_(device) {}
  std::vector<std::string> replicate(RankSession& session, const std::vector<std::string>& names) override;
  void all_gather(const torch::Tensor& local, std::vector<torch::Tensor>& outputs, const std::string& what) override {
    communicator_.all_gather_into(local, outputs, what);
  }

 private:
  Communicator& communicator_;
  torch::Device device_;
};

}  // namespace metaguard
