#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "train/communicator.hpp"

namespace metaguard {

// The trainable parameters' gradients, accumulated over micro-batches and summed over
// ranks in a few flat float64 buffers (one all-reduce per bucket).
//
// Why float64: a float32 sum depends on its order, and the order differs between one rank
// reading eight sequences and two ranks reading four each. Every micro-batch gradient is
// float32; sums of a few of them are exact in float64, so the total is the same bits
// whichever rank added what, and 1 or N ranks train identically.
class GradientBuckets {
 public:
  // `extra_slots` float64 values ride along in the last bucket's all-reduce (the loss sum,
  // a stop flag), so a step needs no other collective.
  GradientBuckets(std::vector<torch::Tensor> parameters, int extra_slots, int64_t bucket_elements = int64_t(1) << 24);

  // Clears the accumulators and the extras.
  void zero();
  // Adds every parameter's .grad into the accumulators and drops the .grad.
  void accumulate();
  double& extra(int slot);
  // Sums accumulators and extras over ranks.
  void all_reduce(Communicator& communicator, int64_t step);
  // L2 norm of the accumulated gradients.
  double norm() const;
  // Writes accumulated * scale into each parameter's .grad, in its dtype.
  void write_gradients(double scale);

  size_t bucket_count() const { return buckets_.size(); }
  int64_t elements() const { return elements_; }

 private:
  struct Slot {
    torch::Tensor parameter;
    size_t bucket;
    int64_t offset;
  };
  std::vector<Slot> slots_;
  std::vector<torch::Tensor> buckets_;  // float64, 1-D
  int extra_slots_;
  int64_t extras_offset_ = 0;  // in the last bucket
  int64_t elements_ = 0;
};

}  // namespace metaguard
