#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/gpt.hpp"
#include "support/paths.hpp"
#include "unit/torch/model_test_support.hpp"

TEST_CASE("model training: a few LoRA steps on a fixed batch lower the loss, base weights untouched", "[model][train]") {
  torch::manual_seed(0);  // dropout on the LoRA path draws from the global generator
  metaguard::GPTConfig config =
      metaguard::load_gpt_config(metaguard::test::source_path("fixtures/models/micro.json"));
  auto lora = metaguard::parse_lora_spec("r=8,alpha=16,dropout=0.05,targets=query+value+projection+mlp");
  metaguard::GPT model = metaguard::build_gpt(config, lora, metaguard::BuildOptions{torch::kCPU, torch::kFloat32, 1234});
  model->mark_only_lora_trainable();
  model->train();

  std::map<std::string, torch::Tensor> base_before;
  std::vector<torch::Tensor> trainable;
  for (const auto& item : model->named_parameters()) {
    if (item.value().requires_grad()) trainable.push_back(item.value());
    else base_before[item.key()] = item.value().clone();
  }
  REQUIRE(trainable.size() == model->lora_state_dict().size());
  torch::optim::AdamW optimizer(trainable, torch::optim::AdamWOptions(3e-3).weight_decay(0.0));

  torch::Tensor batch = metaguard::test::random_tokens(4, 17, config.vocab_size, 77);  // (B, T + 1)
  torch::Tensor inputs = batch.narrow(1, 0, 16);
  torch::Tensor targets = batch.narrow(1, 1, 16);
  std::vector<double> losses;
  for (int step = 0; step < 8; ++step) {
    optimizer.zero_grad();
    torch::Tensor logits = model->forward(inputs);  // (B, T, V)
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}));
    loss.backward();
    losses.push_back(loss.item<double>());
    optimizer.step();
  }
  INFO("losses: " << losses.front() << " ... " << losses.back());
  CHECK(losses.back() < losses.front() - 0.05);
  CHECK(losses[4] < losses[0]);

  for (const auto& item : model->named_parameters()) {
    if (item.value().requires_grad()) {
      CHECK(item.value().grad().defined());
      continue;
    }
    CAPTURE(item.key());
    CHECK_FALSE(item.value().grad().defined());
    CHECK(torch::equal(item.value(), base_before.at(item.key())));
  }
  // The adapters moved: B left zero.
  for (const auto& item : model->lora_state_dict()) {
    if (item.key().find("lora_B") != std::string::npos) CHECK(item.value().abs().max().item<double>() > 0);
  }
}
