#include "train/sharded_loss.hpp"

#include <chrono>

#include <ATen/Context.h>
#include <torch/torch.h>

namespace metaguard {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The parts of the forward the loss runs one at a time, by the names of what they hold.
std::string region_of(const std::string& name) {
  static const std::string kBlocks = "transformer.h.";
  if (name.compare(0, kBlocks.size(), kBlocks) == 0) return gather_unit(name);
  if (name.rfind("transformer.wte.", 0) == 0) return "embedding";
  return "head";  // the final norm and the LM head
}

// A part's forward without autograd, then, in backward, its recomputation with autograd.
// Its inputs are the part's input activation and its trainable parameters (so autograd
// calls backward whenever either needs a gradient); the run's address rides along.
struct CheckpointedUnit : public torch::autograd::Function<CheckpointedUnit> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x, at::TensorList /*trainable*/,
                               int64_t run_address) {
    const auto* run = reinterpret_cast<const ShardedLoss::UnitRun*>(run_address);
    ctx->saved_data["run"] = run_address;
    ctx->saved_data["x_grad"] = x.requires_grad();
    // Dropout in the adapters: the recomputation must draw what this forward draws.
    ctx->saved_data["rng"] = at::globalContext().defaultGenerator(x.device()).get_state();
    ctx->save_for_backward({x});
    run->gather();
    variable_list outputs;
    try {
      outputs = run->body(x);  // Function::forward runs with grad mode off
    } catch (...) {
      run->release();
      throw;
    }
    run->release();
    if (outputs.size() > 1) ctx->mark_non_differentiable(variable_list(outputs.begin() + 1, outputs.end()));
    return outputs;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto* run = reinterpret_cast<const ShardedLoss::UnitRun*>(ctx->saved_data["run"].toInt());
    const bool x_grad = ctx->saved_data["x_grad"].toBool();
    torch::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(x_grad);
    const std::vector<torch::Tensor>& parameters = *run->trainable;
    variable_list wrt;
    if (x_grad) wrt.push_back(x);
    wrt.insert(wrt.end(), parameters.begin(), parameters.end());

    at::Generator generator = at::globalContext().defaultGenerator(x.device());
    const torch::Tensor state_now = generator.get_state();
    generator.set_state(ctx->saved_data["rng"].toTensor());
    variable_list grads;
    run->gather();
    try {
      torch::AutoGradMode grad_mode(true);
      torch::Tensor y = run->body(x).front();
      if (y.requires_grad() && grad_outputs[0].defined() && !wrt.empty()) {
        grads = torch::autograd::grad({y}, wrt, {grad_outputs[0]}, /*retain_graph=*/false, /*create_graph=*/false,
                                      /*allow_unused=*/true);
      }
    } catch (...) {
      run->release();
      generator.set_state(state_now);
      throw;
    }
    run->release();
    generator.set_state(state_now);

    // One gradient per forward input: x, each trainable parameter, the address (none).
    grads.resize(wrt.size());
    variable_list result;
    size_t next = 0;
    result.push_back(x_grad ? grads[next++] : torch::Tensor());
    for (size_t k = 0; k < parameters.size(); ++k) result.push_back(grads[next + k]);
    result.push_back(torch::Tensor());
    return result;
  }
};

// Without activation checkpointing a part's forward builds its graph while its units are
// gathered, and autograd keeps views of the gathered weights; release() frees their bytes,
// not the storage those views share. Two identity functions bracket the part so backward
// gathers its units again just before the part's nodes run and releases them just after:
// GatherInBackward on its output (the first node of the part backward reaches) and
// ReleaseInBackward on its input. Every node that reads a frozen weight lies on a path from
// the input to the output, so it runs between the two; what may run later touches adapters
// only (their transposes, their gradients' accumulation). ReleaseInBackward also takes the
// part's adapters, so autograd reaches it even where the input needs no gradient (block 0:
// its input's gradient is then computed and dropped, a small price).
struct GatherInBackward : public torch::autograd::Function<GatherInBackward> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& y, int64_t run_address) {
    ctx->saved_data["run"] = run_address;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    reinterpret_cast<const ShardedLoss::UnitRun*>(ctx->saved_data["run"].toInt())->gather(/*for_backward=*/true);
    return {grad_outputs[0], torch::Tensor()};
  }
};

struct ReleaseInBackward : public torch::autograd::Function<ReleaseInBackward> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, at::TensorList trainable,
                               int64_t run_address) {
    ctx->saved_data["run"] = run_address;
    ctx->saved_data["trainable"] = static_cast<int64_t>(trainable.size());
    return x;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    reinterpret_cast<const ShardedLoss::UnitRun*>(ctx->saved_data["run"].toInt())->release(/*for_backward=*/true);
    variable_list result{grad_outputs[0]};
    result.resize(2 + static_cast<size_t>(ctx->saved_data["trainable"].toInt()));  // nothing for the adapters
    return result;
  }
};

}  // namespace

ShardedLoss::ShardedLoss(GPT& model, FusedHeadLoss& head, ShardedTensors& shards, SliceGatherer& gatherer,
                         bool checkpointing)
    : model_(model), head_(head), shards_(shards), gatherer_(gatherer), checkpointing_(checkpointing) {
  // The fused head loss computes its gradient in forward and keeps no weight for backward.
  const c10::TensorImpl* head_weight =
      head_.fused() ? model_->lm_head.base().weight.unsafeGetTensorImpl() : nullptr;
  for (const auto& tensor : shards_.tensors()) {
    const bool read_in_backward = tensor.handle.unsafeGetTensorImpl() != head_weight;
    for (const auto& name : tensor.names) {  // a tied weight is needed by both its parts
      const std::string region = region_of(name);
      auto& units = units_[region];
      if (std::find(units.begin(), units.end(), tensor.unit) == units.end()) units.push_back(tensor.unit);
      auto& again = backward_units_[region];
      if (read_in_backward && std::find(again.begin(), again.end(), tensor.unit) == again.end()) {
        again.push_back(tensor.unit);
      }
    }
  }
  for (const auto& item : model_->named_parameters()) {
    if (item.value().requires_grad()) trainable_[region_of(item.key())].push_back(item.value());
  }
}

ShardedLoss::~ShardedLoss() = default;

void ShardedLoss::UnitRun::gather(bool for_backward) const {
  const auto start = std::chrono::steady_clock::now();
  for (const auto& unit : for_backward ? *backward_units : *units) owner->shards_.gather(unit, owner->gatherer_);
  owner->gather_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void ShardedLoss::UnitRun::release(bool for_backward) const {
  for (const auto& unit : for_backward ? *backward_units : *units) owner->shards_.release(unit);
}

std::vector<torch::Tensor> ShardedLoss::run_region(const std::string& region, const torch::Tensor& x, Body body) {
  static const std::vector<std::string> kNoUnits;
  static const std::vector<torch::Tensor> kNoParameters;
  auto units = units_.find(region);
  auto again = backward_units_.find(region);
  auto trainable = trainable_.find(region);
  runs_.push_back(std::make_unique<UnitRun>(UnitRun{this, units == units_.end() ? &kNoUnits : &units->second,
                                                    again == backward_units_.end() ? &kNoUnits : &again->second,
                                                    trainable == trainable_.end() ? &kNoParameters : &trainable->second,
                                                    std::move(body)}));
  const UnitRun& run = *runs_.back();
  const auto address = reinterpret_cast<int64_t>(&run);
  const bool backward_reaches = x.requires_grad() || !run.trainable->empty();
  if (checkpointing_ || !torch::GradMode::is_enabled() || !backward_reaches) {
    return CheckpointedUnit::apply(x, at::TensorList(*run.trainable), address);
  }
  // Kept: the graph of this forward is the backward's.
  torch::Tensor input = ReleaseInBackward::apply(x, at::TensorList(*run.trainable), address);
  run.gather();
  std::vector<torch::Tensor> outputs;
  try {
    outputs = run.body(input);
  } catch (...) {
    run.release();
    throw;
  }
  run.release();
  outputs.front() = GatherInBackward::apply(outputs.front(), address);
  return outputs;
}

torch::Tensor ShardedLoss::loss(const torch::Tensor& tokens, torch::Tensor* per_sequence) {
  runs_.clear();  // the previous loss's backward is done (or it was a validation's)
  auto [inputs, targets] = FusedHeadLoss::split(tokens);
  const GPTImpl::BlockInputs block_inputs = model_->block_inputs(inputs.size(1));
  torch::Tensor x = run_region("embedding", inputs, [this](const torch::Tensor& idx) {
    return std::vector<torch::Tensor>{model_->embed(idx)};
  }).front();
  for (int64_t layer = 0; layer < model_->config().n_layer; ++layer) {
    x = run_region(gather_unit("transformer.h." + std::to_string(layer) + "."), x,
                   [this, layer, block_inputs](const torch::Tensor& h) {
                     return std::vector<torch::Tensor>{model_->run_block(layer, h, block_inputs)};
                   }).front();
  }
  std::vector<torch::Tensor> head = run_region("head", x, [this, targets = targets](const torch::Tensor& h) {
    torch::Tensor per_token;
    torch::Tensor mean = head_.loss_from_hidden(model_->final_norm(h), targets, &per_token);
    return std::vector<torch::Tensor>{mean, per_token};
  });
  if (per_sequence) *per_sequence = FusedHeadLoss::per_sequence_mean(head[1], targets);
  return head[0];
}

}  // namespace metaguard
