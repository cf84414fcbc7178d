#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "model/gpt.hpp"
#include "program/sharded_tensors.hpp"
#include "train/fused_head_loss.hpp"

namespace metaguard {

// The loss of a `--strategy shard` run: the model's forward unit by unit (the embedding,
// each block, then the final norm and the head with the cross entropy), each unit's frozen
// weights all-gathered just before it runs and released right after. In training, by
// default, each unit is recomputed in backward (activation checkpointing per block, as
// LitGPT's FSDP fine-tuning runs it): backward gathers the unit again, runs it with
// autograd, takes the gradients of its input and of its adapters, and releases it.
// Without checkpointing the forward's graph is kept and backward gathers each unit again
// around its part of the graph. Either way no gathered weight's bytes are kept from forward
// to backward, and a rank never holds more than one unit whole.
//
// The math is the replicated forward's, op for op (same weights, same order), so the
// losses of the two strategies agree to float rounding; dropout draws are replayed in the
// recomputation.
class ShardedLoss {
 public:
  // `checkpointing` false: no recomputation; each part's forward graph is kept for backward
  // (as without FSDP's activation checkpointing), which gathers the part's units again
  // (the fused head's weight excepted: its gradient is computed in forward) and releases
  // them after the part's backward. Faster by the recomputation; holds every activation.
  ShardedLoss(GPT& model, FusedHeadLoss& head, ShardedTensors& shards, SliceGatherer& gatherer,
              bool checkpointing = true);
  ~ShardedLoss();

  // As FusedHeadLoss::loss: tokens (B, T + 1) -> the mean loss over B * T tokens.
  torch::Tensor loss(const torch::Tensor& tokens, torch::Tensor* per_sequence = nullptr);

  // Seconds spent gathering (forward and backward) since construction.
  double gather_seconds() const { return gather_seconds_; }

  using Body = std::function<std::vector<torch::Tensor>(const torch::Tensor&)>;
  // One part of the forward: the gather units it needs whole, its trainable parameters and
  // its computation (the first output is differentiable, any others are not). Public for
  // the autograd function that runs it.
  struct UnitRun {
    ShardedLoss* owner;
    const std::vector<std::string>* units;
    const std::vector<std::string>* backward_units;  // what its kept graph reads in backward
    const std::vector<torch::Tensor>* trainable;
    Body body;
    void gather(bool for_backward = false) const;
    void release(bool for_backward = false) const;
  };

 private:
  // Runs `region` ("embedding", "transformer.h.<i>", "head") on x: checkpointed, or with its
  // graph kept and bracketed for backward.
  std::vector<torch::Tensor> run_region(const std::string& region, const torch::Tensor& x, Body body);

  GPT& model_;
  FusedHeadLoss& head_;
  ShardedTensors& shards_;
  SliceGatherer& gatherer_;
  // By region: the gather units it needs, and its trainable parameters (its adapters).
  std::map<std::string, std::vector<std::string>> units_;
  std::map<std::string, std::vector<std::string>> backward_units_;
  std::map<std::string, std::vector<torch::Tensor>> trainable_;
  // The runs of the latest loss(): their backward needs them until it is done.
  std::vector<std::unique_ptr<UnitRun>> runs_;
  double gather_seconds_ = 0;
  bool checkpointing_;
};

}  // namespace metaguard
