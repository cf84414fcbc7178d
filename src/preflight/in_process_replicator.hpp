#pragma once
#include "program/init_program.hpp"

namespace metaguard {

// Preflight's broadcast: every rank lives in this process on a dry-run tracker, so
// "receiving" copies rank 0's state (where the tensor is, whether and with what it was
// written) instead of bytes.
class InProcessReplicator : public Replicator {
 public:
  explicit InProcessReplicator(RankSession& source) : source_(source) {}
  std::vector<std::string> replicate(RankSession& target, const std::vector<std::string>& names) override;

 private:
  RankSession& source_;
};

}  // namespace metaguard
