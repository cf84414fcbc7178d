#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "core/finding.hpp"

namespace metaguard {

// Every rank agreed to stop at a guard point: at least one of them has error findings
// (policy fail, or repair that could not repair). Thrown on every rank alike, so no rank
// waits for another that stopped.
class RunStopped : public std::runtime_error {
 public:
  RunStopped(std::string phase, std::vector<int> ranks, const std::string& message)
      : std::runtime_error(message), phase_(std::move(phase)), ranks_(std::move(ranks)) {}
  const std::string& phase() const { return phase_; }
  // The ranks that had error findings, ascending; the first is the run's "stopped.rank".
  const std::vector<int>& ranks() const { return ranks_; }

 private:
  std::string phase_;
  std::vector<int> ranks_;
};

}  // namespace metaguard
