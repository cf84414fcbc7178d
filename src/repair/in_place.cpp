#include "repair/in_place.hpp"

namespace metaguard {

void swap_in_place(const torch::Tensor& target, const torch::Tensor& source) {
  // shallow_copy_from keeps target's version counter and autograd metadata, which is what
  // makes this an in-place materialization rather than a replacement.
  target.unsafeGetTensorImpl()->shallow_copy_from(source.getIntrusivePtr());
}

}  // namespace metaguard
