#pragma once
#include <cstdint>

#include <torch/nn/module.h>

namespace metaguard {

// Gives every tensor of an already allocated (not meta) module tree its declared values:
// init recipes for parameters and persistent buffers (seeded by run seed and qualified
// name), derived recipes for derived buffers and caches. This is what "built directly with
// seed s" means; materializing a meta-built tree with seed s gives the same bits.
// Tensors without a declared recipe are left as they are.
void initialize_module(torch::nn::Module& root, uint64_t seed, int threads = 1);

}  // namespace metaguard
