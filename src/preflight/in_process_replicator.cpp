#include "preflight/in_process_replicator.hpp"

namespace metaguard {

std::vector<std::string> InProcessReplicator::replicate(RankSession& target, const std::vector<std::string>& names) {
  if (&target == &source_) return names;  // rank 0 sends: nothing to copy
  source_.walker().refresh();
  target.walker().refresh();
  std::vector<std::string> done;
  for (const auto& name : names) {
    LiveTensor* from = source_.walker().find(name);
    LiveTensor* to = target.walker().find(name);
    if (!from || !to) continue;
    auto state = source_.tracker().state_of(from->tensor);
    if (!state) {  // still meta on rank 0: nothing to send
      target.ledger().note(name, LedgerEvent::NotReceived, "rank 0 still held it on meta");
      continue;
    }
    if (!target.tracker().state_of(to->tensor)) target.tracker().mark_allocated(to->tensor, state->device);
    if (state->written) {
      target.tracker().mark_written(to->tensor, LedgerEvent::Received, state->content_key);
      target.ledger().note(name, LedgerEvent::Received, "from rank 0");
    } else {
      target.ledger().note(name, LedgerEvent::ReceivedUnwritten, "rank 0's storage was never written");
    }
    done.push_back(name);
  }
  return done;
}

}  // namespace metaguard
