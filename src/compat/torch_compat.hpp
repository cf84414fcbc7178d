#pragma once
// The differences between the LibTorch versions metaguard builds against (Debian's 1.13 and
// the one inside a PyTorch 2.x wheel), in one place: code elsewhere uses these names and has
// no version #if of its own. A difference the compiler finds belongs here too.
#include <torch/types.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR < 2
#include <c10/util/string_utils.h>
#endif

namespace c10d {
#if TORCH_VERSION_MAJOR >= 2
class Backend;
#else
class ProcessGroup;
#endif
}  // namespace c10d

namespace metaguard::compat {

// What ProcessGroupGloo and ProcessGroupNCCL derive from, with broadcast/allreduce/allgather:
// c10d::ProcessGroup in 1.13; since 2.0 c10d::Backend (a ProcessGroup holds backends).
#if TORCH_VERSION_MAJOR >= 2
using CollectiveBackend = c10d::Backend;
#else
using CollectiveBackend = c10d::ProcessGroup;
#endif

// torch::optim::Optimizer::state() is keyed by the parameter's TensorImpl*: as a pointer
// since 2.0, as its decimal text in 1.13.
inline auto optimizer_state_key(const torch::Tensor& parameter) {
#if TORCH_VERSION_MAJOR >= 2
  return static_cast<void*>(parameter.unsafeGetTensorImpl());
#else
  return c10::guts::to_string(parameter.unsafeGetTensorImpl());
#endif
}

// Aborts a backend's pending work and communicators (NCCL); a no-op where LibTorch has no
// abort() on its process groups (1.13).
template <class Backend>
void abort_backend(Backend& backend) {
#if TORCH_VERSION_MAJOR >= 2
  backend.abort();
#else
  (void)backend;
#endif
}

}  // namespace metaguard::compat
