#pragma once
#include <string>

#include <torch/types.h>

namespace metaguard {

enum class ComputeDevice { Cpu, Cuda };
enum class CollectiveBackendKind { Gloo, Nccl };

const char* to_string(ComputeDevice device);
const char* to_string(CollectiveBackendKind backend);

// Where a run computes and how its ranks talk, resolved from --device and --backend (the
// same on every rank): `auto` device is CUDA when LibTorch sees a GPU, `auto` backend NCCL
// on CUDA (when compiled in and every local rank has a GPU of its own), Gloo otherwise. Gloo also carries CUDA tensors, staged through
// the host; NCCL needs CUDA tensors and one GPU per rank.
struct RunPlacement {
  ComputeDevice device = ComputeDevice::Cpu;
  CollectiveBackendKind backend = CollectiveBackendKind::Gloo;

  // Throws InputError naming the flag: an unknown value, --device cuda without a visible
  // GPU, --backend nccl in a build without NCCL or on CPU, NCCL with more local ranks than
  // GPUs (it refuses two ranks on one GPU).
  static RunPlacement resolve(const std::string& device_flag, const std::string& backend_flag, int local_world_size);

  // This rank's device: cuda:LOCAL_RANK (Gloo lets ranks beyond the GPU count share them
  // round-robin); made the current CUDA device, before any CUDA work. Throws InputError when
  // LOCAL_RANK has no GPU of its own under NCCL, naming both numbers.
  torch::Device rank_device(int local_rank) const;
  // What collectives move: CPU tensors for Gloo (staged), the rank's GPU for NCCL.
  torch::Device transport_device(int local_rank) const;

  std::string describe() const;  // "cuda, nccl"
};

// True when this metaguard was compiled with its NCCL code (-DMETAGUARD_CUDA=ON).
bool nccl_compiled_in();

}  // namespace metaguard
