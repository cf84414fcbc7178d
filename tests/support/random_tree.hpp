#pragma once
// Random module trees for property tests: random depth, random parameters and buffers of
// random dtypes, some on meta, some tied, some declared derived. The spec is the ground
// truth the tests compare against; it never comes from metaguard's own walker.
#include <memory>
#include <string>
#include <vector>

#include <rapidcheck.h>
#include <torch/torch.h>

#include "walk/tensor_declarations.hpp"

namespace metaguard::test {

enum class SpecKind { Parameter, Buffer, Derived };

struct TensorSpec {
  std::string local;  // registered name
  SpecKind kind = SpecKind::Parameter;
  std::vector<int64_t> shape;
  int dtype_index = 0;  // into kDtypes
  bool meta = false;
  int tie_to = -1;      // index (in the flat list) of an earlier parameter this one is tied to
};

struct NodeSpec {
  int parent = -1;  // index of the parent node; -1 for the root
  std::vector<TensorSpec> tensors;
};

struct TreeSpec {
  std::vector<NodeSpec> nodes;  // parents before children
};

inline const std::vector<c10::ScalarType>& spec_dtypes() {
  static const std::vector<c10::ScalarType> dtypes = {torch::kFloat32, torch::kFloat64, torch::kFloat16,
                                                      torch::kBFloat16, torch::kInt64, torch::kInt32,
                                                      torch::kUInt8, torch::kBool};
  return dtypes;
}

inline bool is_floating(int dtype_index) { return dtype_index < 4; }

// A module that declares whatever the spec says.
struct TestNode : torch::nn::Module, TensorDeclarations {};

struct BuiltTree {
  std::shared_ptr<TestNode> root;
  std::vector<std::shared_ptr<TestNode>> nodes;
  // Flat list in spec order: qualified name, the tensor, its spec.
  struct Entry {
    std::string name;
    torch::Tensor tensor;
    TensorSpec spec;
  };
  std::vector<Entry> entries;
};

rc::Gen<TreeSpec> gen_tree_spec();
// Non-meta tensors get values from a generator seeded by `value_seed`.
BuiltTree build_tree(const TreeSpec& spec, uint64_t value_seed);

}  // namespace metaguard::test
