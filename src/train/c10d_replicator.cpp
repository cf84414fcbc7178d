#include "train/c10d_replicator.hpp"

#include <stdexcept>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/hashing.hpp"
#include "repair/in_place.hpp"
#include "walk/dtype_names.hpp"

namespace metaguard {
namespace {

// Identifies the list a rank is about to replicate: names, shapes and dtypes in order.
uint64_t list_fingerprint(const std::vector<std::string>& names, const std::vector<LiveTensor*>& tensors) {
  uint64_t hash = fnv1a64(std::to_string(names.size()));
  for (size_t i = 0; i < names.size(); ++i) {
    hash = fnv1a64(names[i], hash);
    if (!tensors[i]) {
      hash = fnv1a64("(absent)", hash);
      continue;
    }
    hash = fnv1a64(dtype_name(tensors[i]->tensor.scalar_type()), hash);
    for (int64_t size : tensors[i]->tensor.sizes()) hash = mix64(hash ^ static_cast<uint64_t>(size));
  }
  return hash;
}

}  // namespace

std::vector<std::string> C10dReplicator::replicate(RankSession& session, const std::vector<std::string>& names) {
  const bool sender = communicator_.rank() == 0;
  session.walker().refresh();
  std::vector<LiveTensor*> tensors;
  for (const auto& name : names) tensors.push_back(session.walker().find(name));

  // 1. Every rank must be about to replicate the same list.
  torch::Tensor mine = torch::tensor({static_cast<int64_t>(list_fingerprint(names, tensors))}, torch::kInt64);
  std::vector<torch::Tensor> all = communicator_.all_gather(mine, "agree on the tensors to broadcast");
  for (size_t r = 0; r < all.size(); ++r) {
    if (!torch::equal(all[r], all[0])) {
      throw std::runtime_error(fmt::format(
          "rank {} and rank 0 disagree on the tensors to broadcast (names, shapes or dtypes differ): the ranks "
          "did not build the same model",
          r));
    }
  }

  // 2. Rank 0 says which of them it has data for.
  const int64_t count = static_cast<int64_t>(names.size());
  torch::Tensor available = torch::zeros({count}, torch::kUInt8);
  if (sender) {
    auto flags = available.accessor<uint8_t, 1>();
    for (int64_t i = 0; i < count; ++i) {
      flags[i] = tensors[i] && tensors[i]->tensor.defined() && !tensors[i]->tensor.is_meta() ? 1 : 0;
    }
  }
  communicator_.broadcast(available, "which tensors rank 0 can send");

  // 3. One broadcast per tensor, in list order.
  torch::NoGradGuard no_grad;
  std::vector<std::string> done;
  auto flags = available.accessor<uint8_t, 1>();
  for (int64_t i = 0; i < count; ++i) {
    if (!flags[i]) {
      if (!sender) session.ledger().note(names[i], LedgerEvent::NotReceived, "rank 0 still held it on meta");
      continue;
    }
    torch::Tensor tensor = tensors[i]->tensor;
    const std::string what = fmt::format("broadcast {}", names[i]);
    if (!sender && tensor.is_meta()) {
      swap_in_place(tensor, torch::empty(tensor.sizes(), tensor.options().device(device_)));
      session.tracker().mark_allocated(tensor, tensor.device().str());
    }
    const bool direct = tensor.is_contiguous() && tensor.scalar_type() != torch::kBool &&
                        tensor.device() == communicator_.device();
    if (direct) {
      communicator_.broadcast(tensor, what);
    } else {
      torch::Tensor wire = tensor.to(communicator_.device(), tensor.scalar_type() == torch::kBool ? torch::kUInt8
                                                                                                 : tensor.scalar_type())
                               .contiguous();
      communicator_.broadcast(wire, what);
      if (!sender) tensor.copy_(wire.to(tensor.device(), tensor.scalar_type()));
    }
    if (!sender) {
      // The collective wrote the bytes behind autograd's back: the write counter did not move.
      session.tracker().mark_written(tensor, LedgerEvent::Received);
      session.ledger().note(names[i], LedgerEvent::Received, "from rank 0");
    }
    done.push_back(names[i]);
  }
  return done;
}

}  // namespace metaguard
