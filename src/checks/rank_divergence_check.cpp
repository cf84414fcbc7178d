#include "checks/rank_divergence_check.hpp"

#include <fmt/format.h>

namespace metaguard {

void RankDivergenceCheck::run(const CheckContext& context, std::vector<Finding>& out) const {
  if (!context.ranks || context.ranks->empty() || !context.rank || *context.rank == 0) return;
  const Inventory* reference = (*context.ranks)[0];
  if (!reference) return;
  for (const auto& tensor : context.inventory.tensors()) {
    // A tensor without data where data is needed is the meta and uninitialized checks'
    // finding; repeating it as a divergence would say the same thing twice.
    if (!tensor.has_data() && context.needs.needs(tensor.kind)) continue;
    if (context.not_replicas && context.not_replicas->count(tensor.name)) continue;
    const TensorRecord* source = reference->find(tensor.name);
    std::string difference;
    if (!source) {
      difference = "rank 0 has no such tensor";
    } else if (source->is_meta() != tensor.is_meta()) {
      difference = fmt::format("it is {} here but {} on rank 0", tensor.is_meta() ? "meta" : "materialized",
                               source->is_meta() ? "meta" : "materialized");
    } else if (source->shape != tensor.shape || source->dtype != tensor.dtype) {
      difference = fmt::format("it is {} {} here but {} {} on rank 0", tensor.dtype,
                               fmt::join(tensor.shape, "x"), source->dtype, fmt::join(source->shape, "x"));
    } else if (source->content_hash && tensor.content_hash && *source->content_hash != *tensor.content_hash) {
      difference = fmt::format("its content hash is {:016x} here but {:016x} on rank 0",
                               *tensor.content_hash, *source->content_hash);
    }
    if (difference.empty()) continue;
    out.push_back(context.make(
        std::string(code()), Severity::Error, &tensor,
        fmt::format("{} differs between rank {} and rank 0{}: {}. {}.", tensor.name, *context.rank,
                    context.phase.empty() ? "" : " at " + context.phase, difference, context.cause(tensor)),
        "initialize on rank 0 only (or with one seed everywhere) and broadcast parameters and "
        "persistent buffers to every rank"));
  }
}

}  // namespace metaguard
