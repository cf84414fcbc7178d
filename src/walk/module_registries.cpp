#include "walk/module_registries.hpp"

#include <fmt/format.h>

namespace metaguard {
namespace {

// `parameters_` is protected in torch::nn::Module. A pointer to it, formed inside a derived
// class, may be applied to any Module: the standard way to reach a protected member
// without a cast to a type the object is not.
struct ParameterAccess : torch::nn::Module {
  static TensorRegistry& parameters_of(torch::nn::Module& module) { return module.*(&ParameterAccess::parameters_); }
};

// `buffers_` and `children_` are private. The one place C++ does not check access is the
// argument of an explicit template instantiation ([temp.spec]/6), so instantiating a class
// template with the member pointer, and letting it hand the pointer to a friend function,
// reads them without copying and without undefined behaviour. Both members have had these
// names and types in every LibTorch release since 1.0; a rename fails to compile here.
using BufferMember = TensorRegistry torch::nn::Module::*;
using ChildMember = ChildRegistry torch::nn::Module::*;
BufferMember buffers_member();
ChildMember children_member();

template <BufferMember Member>
struct BufferMemberAccess {
  friend BufferMember buffers_member() { return Member; }
};
template <ChildMember Member>
struct ChildMemberAccess {
  friend ChildMember children_member() { return Member; }
};
template struct BufferMemberAccess<&torch::nn::Module::buffers_>;
template struct ChildMemberAccess<&torch::nn::Module::children_>;

}  // namespace

const TensorRegistry& parameter_registry(const torch::nn::Module& module) {
  return ParameterAccess::parameters_of(const_cast<torch::nn::Module&>(module));
}

const TensorRegistry& buffer_registry(const torch::nn::Module& module) { return module.*buffers_member(); }

const ChildRegistry& child_registry(const torch::nn::Module& module) { return module.*children_member(); }

void replace_registered_parameter(torch::nn::Module& module, const std::string& name, const torch::Tensor& tensor) {
  auto& registry = ParameterAccess::parameters_of(module);
  torch::Tensor* slot = registry.find(name);
  if (!slot) throw std::invalid_argument(fmt::format("module has no parameter '{}'", name));
  *slot = tensor;
}

}  // namespace metaguard
