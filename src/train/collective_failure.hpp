#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace metaguard {

// A collective that did not complete: a peer died, hung past the timeout, or stopped with
// an error of its own. The message names the missing ranks and what each was last seen
// doing; `missing` lists them.
class CollectiveFailure : public std::runtime_error {
 public:
  CollectiveFailure(std::string collective, std::vector<int> missing, const std::string& message)
      : std::runtime_error(message), collective_(std::move(collective)), missing_(std::move(missing)) {}
  const std::string& collective() const { return collective_; }
  const std::vector<int>& missing() const { return missing_; }

 private:
  std::string collective_;
  std::vector<int> missing_;
};

}  // namespace metaguard
