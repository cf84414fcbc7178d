#include "train/rank_placement.hpp"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include "core/errors.hpp"

namespace metaguard {

const char* to_string(ComputeDevice device) { return device == ComputeDevice::Cuda ? "cuda" : "cpu"; }

const char* to_string(CollectiveBackendKind backend) { return backend == CollectiveBackendKind::Nccl ? "nccl" : "gloo"; }

bool nccl_compiled_in() {
#ifdef METAGUARD_CUDA
  return true;
#else
  return false;
#endif
}

RunPlacement RunPlacement::resolve(const std::string& device_flag, const std::string& backend_flag, int local_world_size) {
  RunPlacement placement;
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (device_flag == "auto") {
    placement.device = gpus > 0 ? ComputeDevice::Cuda : ComputeDevice::Cpu;
  } else if (device_flag == "cuda") {
    if (gpus == 0) throw InputError("--device cuda: LibTorch sees no CUDA device here (device count 0); use --device cpu");
    placement.device = ComputeDevice::Cuda;
  } else if (device_flag == "cpu") {
    placement.device = ComputeDevice::Cpu;
  } else {
    throw InputError(fmt::format("--device '{}': expected cpu, cuda or auto", device_flag));
  }

  if (backend_flag == "auto") {
    // NCCL where it can serve every local rank with a GPU of its own; Gloo otherwise.
    const bool nccl = placement.device == ComputeDevice::Cuda && nccl_compiled_in() && local_world_size <= gpus;
    placement.backend = nccl ? CollectiveBackendKind::Nccl : CollectiveBackendKind::Gloo;
  } else if (backend_flag == "gloo") {
    placement.backend = CollectiveBackendKind::Gloo;
  } else if (backend_flag == "nccl") {
    if (!nccl_compiled_in()) {
      throw InputError("--backend nccl: this metaguard was built without NCCL (see 'metaguard --version'); build it with "
                       "-DMETAGUARD_CUDA=ON against a CUDA LibTorch, or use --backend gloo");
    }
    if (placement.device != ComputeDevice::Cuda) {
      throw InputError("--backend nccl: NCCL moves CUDA tensors only and this run computes on the CPU; use --device cuda "
                       "or --backend gloo");
    }
    placement.backend = CollectiveBackendKind::Nccl;
  } else {
    throw InputError(fmt::format("--backend '{}': expected gloo, nccl or auto", backend_flag));
  }

  if (placement.backend == CollectiveBackendKind::Nccl && local_world_size > gpus) {
    throw InputError(fmt::format("--backend nccl: {} ranks on this machine but {} CUDA device(s); NCCL refuses two ranks on "
                                 "one GPU. Start at most {} ranks here, or use --backend gloo (ranks may share a GPU)",
                                 local_world_size, gpus, gpus));
  }
  return placement;
}

torch::Device RunPlacement::rank_device(int local_rank) const {
  if (device == ComputeDevice::Cpu) return torch::kCPU;
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (gpus == 0) throw InputError("--device cuda: LibTorch sees no CUDA device here (device count 0); use --device cpu");
  if (local_rank >= gpus && backend == CollectiveBackendKind::Nccl) {
    throw InputError(fmt::format("LOCAL_RANK {}: this machine has {} CUDA device(s) (0..{}) and NCCL needs one GPU per rank; "
                                 "start fewer ranks per machine, or use --backend gloo",
                                 local_rank, gpus, gpus - 1));
  }
  const torch::Device own(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % gpus));
  // The current device before any CUDA work: NCCL's communicator and LibTorch's default
  // allocations land there, not on GPU 0.
  c10::impl::getDeviceGuardImpl(torch::kCUDA)->setDevice(own);
  return own;
}

torch::Device RunPlacement::transport_device(int local_rank) const {
  if (backend == CollectiveBackendKind::Gloo) return torch::kCPU;
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
}

std::string RunPlacement::describe() const { return fmt::format("{}, {}", to_string(device), to_string(backend)); }

}  // namespace metaguard
