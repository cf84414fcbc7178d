#include "checks/stale_derived_buffer_check.hpp"

#include <fmt/format.h>

namespace metaguard {

void StaleDerivedBufferCheck::run(const CheckContext& context, std::vector<Finding>& out) const {
  for (const auto& tensor : context.inventory.tensors()) {
    if (!tensor.derived || tensor.is_meta() || tensor.uninitialized) continue;
    if (!tensor.derived_current.has_value() || *tensor.derived_current) continue;
    out.push_back(context.make(
        std::string(code()), Severity::Error, &tensor,
        fmt::format("derived buffer {} differs from what its recipe computes{}: {}. It was "
                    "computed for another configuration or overwritten.",
                    tensor.name, context.where(), context.cause(tensor)),
        "recompute derived buffers after any change of configuration or materialization "
        "(--on-meta repair / --repair)"));
  }
}

}  // namespace metaguard
