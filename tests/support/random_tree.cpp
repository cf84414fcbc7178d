#include "support/random_tree.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include "repair/recipe_fill.hpp"

namespace metaguard::test {

rc::Gen<TreeSpec> gen_tree_spec() {
  return rc::gen::exec([] {
    TreeSpec tree;
    const int node_count = *rc::gen::inRange(1, 6);
    int tensor_index = 0;
    std::vector<int> floating_parameters;  // flat indices, for ties
    for (int n = 0; n < node_count; ++n) {
      NodeSpec node;
      node.parent = n == 0 ? -1 : *rc::gen::inRange(0, n);
      const int tensor_count = *rc::gen::inRange(0, 5);
      for (int t = 0; t < tensor_count; ++t, ++tensor_index) {
        TensorSpec spec;
        spec.local = "t" + std::to_string(t);
        spec.kind = static_cast<SpecKind>(*rc::gen::inRange(0, 3));
        const int rank = *rc::gen::inRange(0, 3);
        for (int d = 0; d < rank; ++d) spec.shape.push_back(*rc::gen::inRange<int64_t>(0, 5));
        spec.dtype_index = *rc::gen::inRange(0, static_cast<int>(spec_dtypes().size()));
        spec.meta = *rc::gen::arbitrary<bool>();
        if (spec.kind == SpecKind::Parameter && !floating_parameters.empty() && *rc::gen::inRange(0, 4) == 0) {
          spec.tie_to = *rc::gen::elementOf(floating_parameters);
        }
        if (spec.kind == SpecKind::Parameter && is_floating(spec.dtype_index) && spec.tie_to < 0) {
          floating_parameters.push_back(tensor_index);
        }
        node.tensors.push_back(spec);
      }
      tree.nodes.push_back(node);
    }
    return tree;
  });
}

namespace {

std::string join_name(const std::string& prefix, const std::string& local) {
  return prefix.empty() ? local : prefix + "." + local;
}

InitRecipe recipe_for(int dtype_index) {
  if (is_floating(dtype_index)) return InitRecipe::normal(0.0, 1.0);
  if (spec_dtypes()[static_cast<size_t>(dtype_index)] == torch::kBool) return InitRecipe::ones();
  return InitRecipe::constant(3);
}

}  // namespace

BuiltTree build_tree(const TreeSpec& spec, uint64_t value_seed) {
  BuiltTree built;
  std::vector<std::string> prefixes;
  auto generator = at::detail::createCPUGenerator(value_seed);
  for (size_t n = 0; n < spec.nodes.size(); ++n) {
    auto node = std::make_shared<TestNode>();
    std::string prefix;
    if (spec.nodes[n].parent >= 0) {
      auto& parent = built.nodes[static_cast<size_t>(spec.nodes[n].parent)];
      std::string local = "m" + std::to_string(n);
      parent->register_module(local, node);
      prefix = join_name(prefixes[static_cast<size_t>(spec.nodes[n].parent)], local);
    } else {
      built.root = node;
    }
    prefixes.push_back(prefix);
    built.nodes.push_back(node);
  }
  for (size_t n = 0; n < spec.nodes.size(); ++n) {
    auto& node = built.nodes[n];
    for (const auto& t : spec.nodes[n].tensors) {
      const std::string name = join_name(prefixes[n], t.local);
      const c10::ScalarType dtype = spec_dtypes()[static_cast<size_t>(t.dtype_index)];
      torch::Tensor tensor;
      if (t.tie_to >= 0) {
        tensor = built.entries[static_cast<size_t>(t.tie_to)].tensor;
        node->register_parameter(t.local, tensor, tensor.requires_grad());
      } else {
        auto options = torch::TensorOptions().dtype(dtype).device(t.meta ? torch::kMeta : torch::kCPU);
        tensor = torch::empty(t.shape, options);
        if (!t.meta) {
          if (is_floating(t.dtype_index)) {
            tensor.copy_(torch::randn(t.shape, generator, torch::kFloat64));
          } else {
            tensor.copy_(torch::randint(0, 2, t.shape, generator, torch::kInt64));
          }
        }
        std::vector<int64_t> shape = t.shape;
        switch (t.kind) {
          case SpecKind::Parameter:
            tensor = node->register_parameter(t.local, tensor, is_floating(t.dtype_index));
            node->declare_init(t.local, recipe_for(t.dtype_index));
            break;
          case SpecKind::Buffer:
            tensor = node->register_buffer(t.local, tensor);
            node->declare_init(t.local, recipe_for(t.dtype_index));
            break;
          case SpecKind::Derived:
            tensor = node->register_buffer(t.local, tensor);
            if (!t.meta) {
              int64_t numel = tensor.numel();
              tensor.copy_(torch::arange(numel, torch::kInt64).reshape(shape).remainder(2));
            }
            node->declare_derived(t.local, [shape, dtype](const torch::Device& device) {
              int64_t numel = 1;
              for (int64_t d : shape) numel *= d;
              return torch::arange(numel, torch::kInt64).reshape(shape).remainder(2).to(
                  torch::TensorOptions().dtype(dtype).device(device));
            });
            break;
        }
      }
      TensorSpec effective = t;
      if (t.tie_to >= 0) {
        const auto& source = built.entries[static_cast<size_t>(t.tie_to)].spec;
        effective.meta = source.meta;
        effective.dtype_index = source.dtype_index;
        effective.shape = source.shape;
      }
      built.entries.push_back({name, tensor, effective});
    }
  }
  return built;
}

}  // namespace metaguard::test
