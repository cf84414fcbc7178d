#pragma once
#include <vector>

#include <torch/optim/optimizer.h>

#include "core/optimizer_entry.hpp"
#include "walk/module_walker.hpp"

namespace metaguard {

// What an optimizer holds, as data for the optimizer-stale-reference check: each tensor of
// each param group, labelled by its place, with the name of the module parameter it was
// built for when that is knowable (the same place in the walker's trainable parameters, the
// usual `optimizer(model->parameters())` construction).
std::vector<OptimizerEntry> optimizer_entries(const torch::optim::Optimizer& optimizer, const ModuleWalker& walker);

}  // namespace metaguard
