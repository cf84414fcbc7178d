#include "checks/meta_tensor_check.hpp"

#include <cctype>

#include <fmt/format.h>

namespace metaguard {

void MetaTensorCheck::run(const CheckContext& context, std::vector<Finding>& out) const {
  if (!context.needs.needs(kind())) return;
  for (const auto& tensor : context.inventory.tensors()) {
    if (tensor.kind != kind() || !tensor.is_meta()) continue;
    std::string reason(why());
    reason[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(reason[0])));
    out.push_back(context.make(
        std::string(code()), Severity::Error, &tensor,
        fmt::format("{} {} is on meta{} where its data is needed: {}. {}; the first use will fail "
                    "with 'Cannot copy out of meta tensor; no data!'.",
                    kind_label(tensor.kind), tensor.name, context.where(), context.cause(tensor), reason),
        std::string(hint())));
  }
}

}  // namespace metaguard
