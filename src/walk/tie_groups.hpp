#pragma once
#include <vector>

#include "walk/module_walker.hpp"

namespace metaguard {

// The live tensors grouped by identity: names that are one TensorImpl (tied weights, such as the
// LM head borrowing the token embedding) form one group. Groups come in the order their first
// member appears; within a group the owner comes first, the member that declares an init recipe
// (the embedding, not the head that borrows it), the others in walk order.
//
// The one place tie groups are made: the loader (which key fills a tied tensor), the
// materializer (storage once per group) and the untie-on-materialize fault (who keeps it).
std::vector<std::vector<LiveTensor*>> tie_groups(const std::vector<LiveTensor*>& tensors);

}  // namespace metaguard
