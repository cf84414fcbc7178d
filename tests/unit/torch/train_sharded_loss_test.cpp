// ShardedLoss (train/sharded_loss) on one rank, against the unsharded fused loss of an
// identical model: the same loss and adapter gradients with and without activation
// checkpointing, and the memory rule either way: after the forward and after the backward
// no gathered buffer holds bytes, though without checkpointing autograd keeps views of the
// gathered weights. Which units each mode gathers, and when, is counted.
#include <catch2/catch.hpp>

#include <map>

#include <torch/torch.h>

#include "model/gpt.hpp"
#include "model/gpt_config.hpp"
#include "model/lora_config.hpp"
#include "program/sharded_tensors.hpp"
#include "support/paths.hpp"
#include "train/fused_head_loss.hpp"
#include "train/sharded_loss.hpp"
#include "walk/module_walker.hpp"

using namespace metaguard;

namespace {

// One rank: the all-gather is a copy; every call is counted by what it gathers.
class CountingGatherer : public SliceGatherer {
 public:
  void all_gather(const torch::Tensor& local, std::vector<torch::Tensor>& outputs, const std::string& what) override {
    outputs.at(0).copy_(local);
    ++calls[what];
  }
  std::map<std::string, int> calls;
};

GPT micro_model() {
  GPT model = build_gpt(load_gpt_config(test::source_path("fixtures/models/micro.json")),
                        parse_lora_spec("r=4,alpha=8,targets=query+value+mlp"),
                        BuildOptions{torch::kCPU, torch::kFloat32, 11});
  model->mark_only_lora_trainable();
  // Adapters with values (LoRA's B starts at zero, which would make A's gradient zero).
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) {
    if (p.requires_grad()) p.copy_(torch::linspace(-0.05, 0.05, p.numel()).reshape(p.sizes()));
  }
  return model;
}

std::vector<torch::Tensor> adapter_grads(GPT& model) {
  std::vector<torch::Tensor> grads;
  for (auto& p : model->parameters()) {
    if (p.requires_grad()) grads.push_back(p.grad().clone());
  }
  return grads;
}

bool no_gathered_bytes(const ShardedTensors& shards) {
  for (const auto& tensor : shards.tensors()) {
    if (tensor.full.defined() && tensor.full.storage().nbytes() != 0) return false;
    // At rest: the weight is its slice in the local buffer again.
    if (tensor.handle.numel() != tensor.slice.size() || tensor.handle.data_ptr() != tensor.local.data_ptr()) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("sharded loss: the unsharded loss and gradients, with and without checkpointing, nothing left gathered",
          "[shard][train]") {
  torch::manual_seed(3);
  const torch::Tensor tokens = torch::randint(0, 256, {2, 17}, torch::kInt64);
  GPT reference = micro_model();
  FusedHeadLoss reference_head(reference);
  const double expected = reference_head.loss(tokens).item<double>();
  reference_head.loss(tokens).backward();
  const std::vector<torch::Tensor> expected_grads = adapter_grads(reference);

  for (const bool checkpointing : {true, false}) {
    CAPTURE(checkpointing);
    GPT model = micro_model();
    ModuleWalker walker(*model);
    ShardedTensors shards(walker, 0, 1);
    for (auto& tensor : shards.tensors()) shards.keep_slice(tensor, tensor.handle, torch::kCPU);
    FusedHeadLoss head(model);
    REQUIRE(head.fused());
    CountingGatherer gatherer;
    ShardedLoss loss(model, head, shards, gatherer, checkpointing);

    torch::Tensor value = loss.loss(tokens);
    CHECK(value.item<double>() == Approx(expected).epsilon(1e-6));
    CHECK(no_gathered_bytes(shards));
    const auto after_forward = gatherer.calls;
    value.backward();
    CHECK(no_gathered_bytes(shards));
    const std::vector<torch::Tensor> grads = adapter_grads(model);
    REQUIRE(grads.size() == expected_grads.size());
    for (size_t i = 0; i < grads.size(); ++i) CHECK(torch::allclose(grads[i], expected_grads[i], 1e-5, 1e-6));

    // Forward gathers every weight once; backward every block's again, and the final norm.
    // The head's weight again only to recompute its loss (checkpointing): the fused loss
    // keeps no weight for backward. The embedding needs no backward.
    CHECK(after_forward.at("all-gather lm_head.linear.weight") == 1);
    CHECK(after_forward.at("all-gather transformer.h.1.attn.attn.linear.weight") == 1);
    CHECK(gatherer.calls.at("all-gather transformer.h.1.attn.attn.linear.weight") == 2);
    CHECK(gatherer.calls.at("all-gather transformer.ln_f.weight") == 2);
    CHECK(gatherer.calls.at("all-gather transformer.wte.weight") == 1);
    CHECK(gatherer.calls.at("all-gather lm_head.linear.weight") == (checkpointing ? 2 : 1));
  }
}
