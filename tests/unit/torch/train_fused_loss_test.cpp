// The trainer's fused LM-head cross entropy against the model's own forward + PyTorch's
// cross_entropy: same losses, same gradients (to float rounding), for the model families
// and LoRA layouts it serves, and the fallback where it does not apply.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "model/gpt.hpp"
#include "support/paths.hpp"
#include "train/fused_head_loss.hpp"
#include "unit/torch/model_test_support.hpp"

using namespace metaguard;

namespace {

struct Outcome {
  double loss;
  torch::Tensor per_sequence;
  std::vector<torch::Tensor> grads;
};

// `reused`: a head loss used before (its logits buffer holds an earlier call's rows).
Outcome run(GPT& model, const torch::Tensor& tokens, bool fused, FusedHeadLoss* reused = nullptr) {
  for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
  Outcome out;
  torch::Tensor loss;
  if (fused) {
    FusedHeadLoss fresh(model, /*chunk_rows=*/7);  // a chunk size that does not divide the rows
    FusedHeadLoss& head = reused ? *reused : fresh;
    REQUIRE(head.fused());
    loss = head.loss(tokens, &out.per_sequence);
  } else {
    const int64_t t = tokens.size(1) - 1;
    torch::Tensor logits = model->forward(tokens.narrow(1, 0, t));
    torch::Tensor per_token = torch::nn::functional::cross_entropy(
        logits.reshape({-1, logits.size(-1)}), tokens.narrow(1, 1, t).reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    out.per_sequence = per_token.reshape({tokens.size(0), t}).to(torch::kFloat64).mean(1);
    loss = per_token.mean();
  }
  loss.backward();
  out.loss = loss.item<double>();
  for (auto& p : model->parameters()) {
    if (p.requires_grad()) out.grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  }
  return out;
}

// A model whose LoRA adapters (if any) alone train, with non-zero adapters so that every
// LoRA gradient is exercised.
GPT adapted_model(const GPTConfig& config, const std::string& lora_spec) {
  auto lora = parse_lora_spec(lora_spec);
  GPT model = build_gpt(config, lora, BuildOptions{torch::kCPU, torch::kFloat32, 5});
  if (lora) model->mark_only_lora_trainable();
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    if (item.key().find("lora_B") != std::string::npos) item.value().normal_(0, 0.05);
  }
  return model;
}

// The fused loss's outcome against forward + cross_entropy's: loss, per-sequence losses, gradients.
void check_agree(const Outcome& fused, const Outcome& expected) {
  CHECK(fused.loss == Approx(expected.loss).epsilon(1e-6));
  CHECK(torch::allclose(fused.per_sequence, expected.per_sequence, 1e-6, 1e-6));
  REQUIRE(fused.grads.size() == expected.grads.size());
  REQUIRE_FALSE(fused.grads.empty());
  for (size_t i = 0; i < fused.grads.size(); ++i) {
    CAPTURE(i);
    CHECK(torch::allclose(fused.grads[i], expected.grads[i], 1e-4, 1e-6));
  }
}

void check_same(GPTConfig config, const std::string& lora_spec) {
  CAPTURE(config.name, lora_spec);
  GPT model = adapted_model(config, lora_spec);
  torch::Tensor tokens = test::random_tokens(3, std::min<int64_t>(config.block_size, 12) + 1, config.vocab_size, 9);
  Outcome expected = run(model, tokens, false);
  check_agree(run(model, tokens, true), expected);
  // Forward only (validation): the same losses, no graph.
  torch::NoGradGuard no_grad;
  torch::Tensor per_sequence;
  FusedHeadLoss(model).loss(tokens, &per_sequence);
  CHECK(torch::allclose(per_sequence, expected.per_sequence, 1e-6, 1e-6));
}

}  // namespace

TEST_CASE("train fused head loss: equals forward + cross_entropy, gradients included", "[train][unit]") {
  check_same(load_gpt_config(test::source_path("fixtures/models/micro.json")), "r=4,alpha=8,targets=query+value");
  check_same(test::tiny_llama_config(), "r=2,alpha=4,targets=query+key+value+projection+mlp");
  check_same(test::tiny_neox_config(), "r=4,alpha=8,targets=query+value");
  // Every weight trains, the head's too (and with tied embeddings, the embedding's twice).
  check_same(load_gpt_config(test::source_path("fixtures/models/micro-tied.json")), "none");
  check_same(load_gpt_config(test::source_path("fixtures/models/micro.json")), "none");
}

TEST_CASE("train fused head loss: one object reused across calls of other sizes, with and without grad, keeps agreeing",
          "[train][unit]") {
  // The logits buffer outlives each call: a smaller call after a larger one, validation between
  // training calls, and a larger call that must grow it all read only their own rows.
  GPTConfig config = load_gpt_config(test::source_path("fixtures/models/micro.json"));
  GPT model = adapted_model(config, "r=4,alpha=8,targets=query+value");
  for (int64_t chunk_rows : {int64_t{0}, int64_t{5}}) {
    CAPTURE(chunk_rows);
    FusedHeadLoss head(model, chunk_rows);
    int seed = 20;
    for (int64_t batch : {int64_t{3}, int64_t{1}, int64_t{4}}) {
      CAPTURE(batch);
      torch::Tensor tokens = test::random_tokens(batch, 10, config.vocab_size, ++seed);
      Outcome expected = run(model, tokens, false);
      check_agree(run(model, tokens, true, &head), expected);
      // Validation in between: losses only, from the same buffer.
      torch::NoGradGuard no_grad;
      torch::Tensor per_sequence;
      head.loss(tokens, &per_sequence);
      CHECK(torch::allclose(per_sequence, expected.per_sequence, 1e-6, 1e-6));
    }
  }
}

TEST_CASE("train fused head loss: a LoRA head falls back to the model's forward", "[train][unit]") {
  GPTConfig config = load_gpt_config(test::source_path("fixtures/models/micro.json"));
  GPT model = build_gpt(config, parse_lora_spec("targets=query+head"), BuildOptions{torch::kCPU, torch::kFloat32, 5});
  FusedHeadLoss head(model);
  CHECK_FALSE(head.fused());
  torch::Tensor tokens = test::random_tokens(2, 9, config.vocab_size, 3);
  torch::Tensor per_sequence;
  torch::Tensor loss = head.loss(tokens, &per_sequence);
  torch::Tensor logits = model->forward(tokens.narrow(1, 0, 8));
  torch::Tensor expected = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                                                tokens.narrow(1, 1, 8).reshape({-1}));
  CHECK(loss.item<double>() == Approx(expected.item<double>()));
  CHECK(per_sequence.size(0) == 2);
}

TEST_CASE("train fused head loss: a derived buffer left on meta is refused by name, as the forward does", "[train][unit]") {
  GPTConfig config = load_gpt_config(test::source_path("fixtures/models/micro.json"));
  GPT model = build_gpt(config, parse_lora_spec("r=4"), BuildOptions{torch::kCPU, torch::kFloat32, 5});
  model->cos = torch::empty(model->cos.sizes(), torch::TensorOptions().device(torch::kMeta));
  FusedHeadLoss head(model);
  CHECK_THROWS_WITH(head.loss(test::random_tokens(1, 5, config.vocab_size, 1)),
                    Catch::Contains("derived buffer 'cos' is on meta"));
}
