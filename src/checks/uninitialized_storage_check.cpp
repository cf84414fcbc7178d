#include "checks/uninitialized_storage_check.hpp"

#include <fmt/format.h>

namespace metaguard {

void UninitializedStorageCheck::run(const CheckContext& context, std::vector<Finding>& out) const {
  for (const auto& tensor : context.inventory.tensors()) {
    if (!tensor.uninitialized || tensor.is_meta() || !context.needs.needs(tensor.kind)) continue;
    out.push_back(context.make(
        std::string(code()), Severity::Error, &tensor,
        fmt::format("{} {} holds storage that was never written{}: {}. Its values are leftover "
                    "memory, so training runs but learns from garbage.",
                    kind_label(tensor.kind), tensor.name, context.where(), context.cause(tensor)),
        tensor.derived ? "recompute it from its recipe after materialization (--on-meta repair / --repair)"
                       : "after to_empty-style materialization, initialize, load or broadcast every "
                         "tensor (--on-meta repair / --repair runs its init recipe)"));
  }
}

}  // namespace metaguard
