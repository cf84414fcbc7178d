// ShardedTensors (program/sharded_tensors): what a rank holds at rest, gathering a unit whole
// across ranks (one thread per rank, a real rendezvous between them) and releasing it,
// settling a weight a repair made whole, and the report row. The whole tensor a gather
// gives is compared with the tensor the slices were cut from.
#include <catch2/catch.hpp>

#include <thread>

#include <torch/torch.h>

#include "model/gpt.hpp"
#include "model/gpt_config.hpp"
#include "model/lora_config.hpp"
#include "program/sharded_tensors.hpp"
#include "support/paths.hpp"
#include "support/thread_gatherer.hpp"
#include "walk/module_walker.hpp"

using namespace metaguard;
using metaguard::test::ThreadGatherer;

namespace {

GPTConfig nano() { return load_gpt_config(test::source_path("fixtures/models/nano.json")); }

GPT nano_model() {
  GPT model = build_gpt(nano(), parse_lora_spec("r=2,alpha=4,targets=query+value"),
                        BuildOptions{torch::kMeta});
  model->mark_only_lora_trainable();
  return model;
}

}  // namespace

TEST_CASE("sharded tensors: the frozen weights, sliced, gathered whole across ranks and released") {
  constexpr int kWorld = 3;
  // The reference: one whole model with values.
  GPT whole = build_gpt(nano(), parse_lora_spec("r=2,alpha=4,targets=query+value"),
                        BuildOptions{torch::kCPU, torch::kFloat32, 7});
  std::map<std::string, torch::Tensor> reference;
  for (const auto& item : whole->named_parameters()) reference[item.key()] = item.value().detach();

  std::vector<GPT> models;
  std::vector<std::unique_ptr<ModuleWalker>> walkers;
  std::vector<std::unique_ptr<ShardedTensors>> shards;
  for (int r = 0; r < kWorld; ++r) {
    models.push_back(nano_model());
    walkers.push_back(std::make_unique<ModuleWalker>(*models.back()));
    shards.push_back(std::make_unique<ShardedTensors>(*walkers.back(), r, kWorld));
  }
  const ShardedTensors& first = *shards[0];
  // Every frozen weight, none of the adapters; units in walk order.
  CHECK(first.contains("transformer.wte.weight"));
  CHECK(first.contains("transformer.h.0.attn.attn.linear.weight"));
  CHECK_FALSE(first.contains("transformer.h.0.attn.attn.lora_A"));
  CHECK(first.units().front() == "lm_head.linear.weight");
  CHECK(std::find(first.units().begin(), first.units().end(), "transformer.h.1") != first.units().end());

  // At rest: each rank holds its slice of the reference's values, a 1-D view.
  for (int r = 0; r < kWorld; ++r) {
    for (auto& tensor : shards[r]->tensors()) shards[r]->keep_slice(tensor, reference.at(tensor.name()), torch::kCPU);
  }
  const ShardedTensor* norm = shards[2]->find("transformer.h.0.norm_1.weight");
  REQUIRE(norm);
  CHECK(norm->slice.empty());  // 4 elements over 3 ranks: 2, 2, none
  CHECK(norm->handle.sizes() == c10::IntArrayRef({0}));
  CHECK(norm->slice_text(2) == " (rank 2's slice [4, 4) of its 4 elements, empty)");
  const ShardedTensor* wte = shards[1]->find("transformer.wte.weight");
  REQUIRE(wte);
  CHECK(wte->handle.dim() == 1);
  CHECK(torch::equal(wte->handle, reference.at("transformer.wte.weight").reshape(-1).narrow(0, wte->slice.begin, wte->slice.size())));

  // The report row: slices cover every frozen element once; rank 2's empty ones are named.
  int64_t elements = 0;
  for (int r = 0; r < kWorld; ++r) elements += shards[r]->row().elements;
  int64_t frozen = 0;
  for (const auto& tensor : first.tensors()) frozen += tensor.layout.numel();
  CHECK(elements == frozen);
  CHECK(shards[2]->row().empty.size() == 5);
  CHECK(shards[0]->row().empty.empty());

  // Gather a block on every rank at once: each then holds the whole weights, by value.
  ThreadGatherer gatherer(kWorld);
  std::vector<std::thread> ranks;
  std::vector<int> ok(kWorld, 0);
  for (int r = 0; r < kWorld; ++r) {
    ranks.emplace_back([&, r] {
      ThreadGatherer::thread_rank() = r;
      shards[r]->gather("transformer.h.0", gatherer);
      bool same = true;
      for (const auto& item : models[r]->named_parameters()) {
        if (item.key().rfind("transformer.h.0.", 0) != 0 || item.value().requires_grad()) continue;
        same = same && torch::equal(item.value(), reference.at(item.key()));
      }
      shards[r]->release("transformer.h.0");
      ok[r] = same ? 1 : 0;
    });
  }
  for (auto& thread : ranks) thread.join();
  CHECK(ok == std::vector<int>(kWorld, 1));
  // Released: back to the slice, the same TensorImpl the module holds.
  const ShardedTensor* attn = shards[0]->find("transformer.h.0.attn.attn.linear.weight");
  CHECK(attn->handle.numel() == attn->slice.size());
  CHECK(attn->handle.unsafeGetTensorImpl() ==
        models[0]->named_parameters()["transformer.h.0.attn.attn.linear.weight"].unsafeGetTensorImpl());
}

TEST_CASE("sharded tensors: a weight made whole again (a repair) settles back to its slice") {
  GPT model = nano_model();
  ModuleWalker walker(*model);
  ShardedTensors shards(walker, 1, 2);
  ShardedTensor& wte = *shards.find("transformer.wte.weight");
  torch::Tensor values = torch::arange(wte.layout.numel(), torch::kFloat32).reshape(wte.shape);
  shards.keep_slice(wte, values, torch::kCPU);
  // What a repair does: the weight's whole values swapped in, identity kept.
  torch::Tensor whole = values.clone();
  wte.handle.unsafeGetTensorImpl()->shallow_copy_from(whole.getIntrusivePtr());
  CHECK(wte.handle.numel() == wte.layout.numel());
  shards.settle(torch::kCPU);
  CHECK(wte.handle.numel() == wte.slice.size());
  CHECK(wte.handle[0].item<float>() == static_cast<float>(wte.slice.begin));
  // Meta weights are left alone (the guard names them).
  CHECK(shards.find("transformer.ln_f.weight")->handle.is_meta());
}
