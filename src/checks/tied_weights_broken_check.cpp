#include "checks/tied_weights_broken_check.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace metaguard {

void TiedWeightsBrokenCheck::run(const CheckContext& context, std::vector<Finding>& out) const {
  if (!context.ledger) return;
  for (const auto& group : context.ledger->initial_ties()) {
    std::vector<const TensorRecord*> members;
    for (const auto& name : group) {
      if (const TensorRecord* record = context.inventory.find(name)) members.push_back(record);
    }
    bool split = false;
    for (const auto* member : members) split = split || member->storage_key != members.front()->storage_key;
    if (!split) continue;
    // The culprits are the names that were replaced by a separate tensor; when the ledger
    // cannot tell, every name that left the first one's storage.
    std::vector<const TensorRecord*> culprits;
    for (const auto* member : members) {
      if (context.ledger->has_event(member->name, LedgerEvent::Replaced)) culprits.push_back(member);
    }
    const TensorRecord* first = nullptr;
    for (const auto* member : members) {
      if (std::find(culprits.begin(), culprits.end(), member) == culprits.end()) {
        first = member;
        break;
      }
    }
    if (culprits.empty() || !first) {
      culprits.clear();
      first = members.front();
      for (const auto* member : members) {
        if (member->storage_key != first->storage_key) culprits.push_back(member);
      }
    }
    for (const TensorRecord* other : culprits) {
      out.push_back(context.make(
          std::string(code()), Severity::Error, other,
          fmt::format("{} was tied to {} (one storage) but no longer is{}: {}. The two now train "
                      "and save as separate copies.",
                      other->name, first->name, context.where(), context.cause(*other)),
          fmt::format("materialize tied tensors once and keep them one tensor (metaguard's "
                      "repair re-ties {} to {})",
                      other->name, first->name)));
    }
  }
}

}  // namespace metaguard
