#include "train/gradient_buckets.hpp"

#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>

namespace metaguard {

GradientBuckets::GradientBuckets(std::vector<torch::Tensor> parameters, int extra_slots, int64_t bucket_elements)
    : extra_slots_(extra_slots) {
  std::vector<int64_t> sizes{0};
  for (auto& parameter : parameters) {
    const int64_t n = parameter.numel();
    if (sizes.back() > 0 && sizes.back() + n > bucket_elements) sizes.push_back(0);
    slots_.push_back({parameter, sizes.size() - 1, sizes.back()});
    sizes.back() += n;
    elements_ += n;
  }
  extras_offset_ = sizes.back();
  sizes.back() += extra_slots;
  for (int64_t size : sizes) buckets_.push_back(torch::zeros({size}, torch::kFloat64));
}

void GradientBuckets::zero() {
  for (auto& bucket : buckets_) bucket.zero_();
}

void GradientBuckets::accumulate() {
  torch::NoGradGuard no_grad;
  for (auto& slot : slots_) {
    torch::Tensor& grad = slot.parameter.mutable_grad();
    if (!grad.defined()) continue;
    buckets_[slot.bucket].narrow(0, slot.offset, slot.parameter.numel()).add_(grad.reshape({-1}).to(torch::kCPU, torch::kFloat64));
    grad = torch::Tensor();
  }
}

double& GradientBuckets::extra(int slot) {
  return buckets_.back().data_ptr<double>()[extras_offset_ + slot];
}

void GradientBuckets::all_reduce(Communicator& communicator, int64_t step) {
  for (size_t b = 0; b < buckets_.size(); ++b) {
    communicator.all_reduce_sum(buckets_[b], fmt::format("all-reduce gradients, step {} bucket {}", step + 1, b));
  }
}

double GradientBuckets::norm() const {
  double squares = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const int64_t n = b + 1 == buckets_.size() ? extras_offset_ : buckets_[b].numel();
    squares += buckets_[b].narrow(0, 0, n).square().sum().item<double>();
  }
  return std::sqrt(squares);
}

void GradientBuckets::write_gradients(double scale) {
  torch::NoGradGuard no_grad;
  for (auto& slot : slots_) {
    torch::Tensor values = buckets_[slot.bucket].narrow(0, slot.offset, slot.parameter.numel());
    slot.parameter.mutable_grad() = (values * scale).to(slot.parameter.device(), slot.parameter.scalar_type()).reshape(slot.parameter.sizes());
  }
}

}  // namespace metaguard
