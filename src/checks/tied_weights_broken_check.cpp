#include "checks/tied_weights_broken_check.hpp"

#include <fmt/format.h>

namespace metaguard {

void TiedWeightsBrokenCheck::run(const CheckContext& context, std::vector<Finding>& out) const {
  if (!context.ledger) return;
  for (const auto& group : context.ledger->initial_ties()) {
    const TensorRecord* first = context.inventory.find(group.front());
    if (!first) continue;
    for (size_t k = 1; k < group.size(); ++k) {
      const TensorRecord* other = context.inventory.find(group[k]);
      if (!other || other->storage_key == first->storage_key) continue;
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
