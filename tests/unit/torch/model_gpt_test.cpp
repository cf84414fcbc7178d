#include <catch2/catch.hpp>

#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "core/errors.hpp"
#include "model/block.hpp"
#include "model/gpt.hpp"
#include "model/lora_qkv_linear.hpp"
#include "model/parameter_count.hpp"
#include "support/paths.hpp"
#include "unit/torch/model_test_support.hpp"

using metaguard::BuildOptions;
using metaguard::GPT;
using metaguard::GPTConfig;
using metaguard::LoRAConfig;
using metaguard::build_gpt;
using metaguard::test::random_tokens;

namespace {

using Shape = std::vector<int64_t>;
using NamedShapes = std::vector<std::pair<std::string, Shape>>;

NamedShapes parameter_shapes(GPT& model) {
  NamedShapes out;
  for (const auto& item : model->named_parameters()) out.emplace_back(item.key(), item.value().sizes().vec());
  return out;
}

NamedShapes buffer_shapes(GPT& model) {
  NamedShapes out;
  for (const auto& item : model->named_buffers()) out.emplace_back(item.key(), item.value().sizes().vec());
  return out;
}

GPTConfig micro() { return metaguard::load_gpt_config(metaguard::test::source_path("fixtures/models/micro.json")); }

LoRAConfig lora_with(bool q, bool k, bool v, bool projection, bool mlp, bool head, int64_t r = 4) {
  LoRAConfig lora;
  lora.r = r;
  lora.alpha = 8;
  lora.query = q;
  lora.key = k;
  lora.value = v;
  lora.projection = projection;
  lora.mlp = mlp;
  lora.head = head;
  return lora;
}

// Gives every lora_B small random values so the adapters actually change the output.
void randomize_lora_b(GPT& model, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto generator = at::detail::createCPUGenerator(seed);
  for (auto& item : model->named_parameters()) {
    if (item.key().size() >= 6 && item.key().substr(item.key().size() - 6) == "lora_B") {
      item.value().normal_(0.0, 0.05, generator);
    }
  }
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

int64_t unique_numel(GPT& model) {
  std::set<const void*> seen;
  int64_t total = 0;
  for (const auto& item : model->named_parameters()) {
    if (seen.insert(item.value().unsafeGetTensorImpl()).second) total += item.value().numel();
  }
  return total;
}

}  // namespace

TEST_CASE("model gpt: a plain micro GPT has LitGPT's keys and shapes", "[model]") {
  GPT model = build_gpt(micro(), std::nullopt, BuildOptions{torch::kMeta});
  NamedShapes expected = {{"lm_head.weight", {256, 64}}, {"transformer.wte.weight", {256, 64}}};
  for (int layer = 0; layer < 2; ++layer) {
    std::string p = "transformer.h." + std::to_string(layer) + ".";
    expected.push_back({p + "norm_1.weight", {64}});
    expected.push_back({p + "attn.attn.weight", {(4 + 2 * 2) * 16, 64}});
    expected.push_back({p + "attn.proj.weight", {64, 64}});
    expected.push_back({p + "norm_2.weight", {64}});
    expected.push_back({p + "mlp.fc_1.weight", {128, 64}});
    expected.push_back({p + "mlp.fc_2.weight", {128, 64}});
    expected.push_back({p + "mlp.proj.weight", {64, 128}});
  }
  expected.push_back({"transformer.ln_f.weight", {64}});
  CHECK(parameter_shapes(model) == expected);
  CHECK(buffer_shapes(model) == NamedShapes{{"cos", {64, 16}}, {"sin", {64, 16}}, {"mask_cache", {64, 64}}});
  CHECK(model->derived_buffer_names() == std::vector<std::string>{"cos", "sin", "mask_cache"});
}

TEST_CASE("model gpt: a LoRA micro GPT has lora.GPT's keys, adapters sized for grouped queries", "[model]") {
  GPT model = build_gpt(micro(), metaguard::parse_lora_spec("r=8,alpha=16,targets=query+value"),
                        BuildOptions{torch::kMeta});
  NamedShapes expected = {{"lm_head.linear.weight", {256, 64}}, {"transformer.wte.weight", {256, 64}}};
  for (int layer = 0; layer < 2; ++layer) {
    std::string p = "transformer.h." + std::to_string(layer) + ".";
    expected.push_back({p + "norm_1.weight", {64}});
    expected.push_back({p + "attn.attn.lora_A", {2 * 8, 64}});             // query and value blocks
    expected.push_back({p + "attn.attn.lora_B", {4 * 16 + 2 * 16, 8}});    // 4 query heads + 2 value heads
    expected.push_back({p + "attn.attn.linear.weight", {128, 64}});
    expected.push_back({p + "attn.proj.linear.weight", {64, 64}});
    expected.push_back({p + "norm_2.weight", {64}});
    expected.push_back({p + "mlp.fc_1.linear.weight", {128, 64}});
    expected.push_back({p + "mlp.fc_2.linear.weight", {128, 64}});
    expected.push_back({p + "mlp.proj.linear.weight", {64, 128}});
  }
  expected.push_back({"transformer.ln_f.weight", {64}});
  CHECK(parameter_shapes(model) == expected);
  CHECK(buffer_shapes(model) == NamedShapes{{"cos", {64, 16}},
                                            {"sin", {64, 16}},
                                            {"mask_cache", {64, 64}},
                                            {"transformer.h.0.attn.attn.lora_ind", {96}},
                                            {"transformer.h.1.attn.attn.lora_ind", {96}}});
  CHECK(model->derived_buffer_names() ==
        std::vector<std::string>{"cos", "sin", "mask_cache", "transformer.h.0.attn.attn.lora_ind",
                                 "transformer.h.1.attn.attn.lora_ind"});
  for (const auto& item : model->named_parameters()) CHECK(item.value().is_meta());
  for (const auto& item : model->named_buffers()) CHECK(item.value().is_meta());
}

TEST_CASE("model gpt: GPT-NeoX family has biases, LayerNorm biases and fc/proj MLP", "[model]") {
  GPTConfig config = metaguard::test::tiny_neox_config();
  GPT model = build_gpt(config, lora_with(false, false, false, true, true, true, 2), BuildOptions{torch::kMeta});
  NamedShapes expected = {{"lm_head.lora_A", {2, 32}}, {"lm_head.lora_B", {64, 2}}, {"lm_head.linear.weight", {64, 32}},
                          {"transformer.wte.weight", {64, 32}}};
  for (int layer = 0; layer < 2; ++layer) {
    std::string p = "transformer.h." + std::to_string(layer) + ".";
    NamedShapes block = {{p + "norm_1.weight", {32}},          {p + "norm_1.bias", {32}},
                         {p + "attn.attn.linear.weight", {96, 32}}, {p + "attn.attn.linear.bias", {96}},
                         {p + "attn.proj.lora_A", {2, 32}},    {p + "attn.proj.lora_B", {32, 2}},
                         {p + "attn.proj.linear.weight", {32, 32}}, {p + "attn.proj.linear.bias", {32}},
                         {p + "norm_2.weight", {32}},          {p + "norm_2.bias", {32}},
                         {p + "mlp.fc.lora_A", {2, 32}},       {p + "mlp.fc.lora_B", {128, 2}},
                         {p + "mlp.fc.linear.weight", {128, 32}}, {p + "mlp.fc.linear.bias", {128}},
                         {p + "mlp.proj.lora_A", {2, 128}},    {p + "mlp.proj.lora_B", {32, 2}},
                         {p + "mlp.proj.linear.weight", {32, 128}}, {p + "mlp.proj.linear.bias", {32}}};
    expected.insert(expected.end(), block.begin(), block.end());
  }
  expected.push_back({"transformer.ln_f.weight", {32}});
  expected.push_back({"transformer.ln_f.bias", {32}});
  CHECK(parameter_shapes(model) == expected);
  // No QKV target: the fused layer has no adapter and no index buffer.
  CHECK(model->derived_buffer_names() == std::vector<std::string>{"cos", "sin", "mask_cache"});
  CHECK(buffer_shapes(model)[0].second == Shape{16, 2});  // rotary on 0.25 of head_size 8
}

TEST_CASE("model gpt: forward gives (B, T, padded_vocab) logits for every config family", "[model]") {
  GPTConfig mqa = metaguard::test::tiny_llama_config(4, 1, 8);
  GPTConfig mha = metaguard::test::tiny_llama_config(4, 4, 8);
  GPTConfig tied = metaguard::test::tiny_llama_config();
  tied.tie_embeddings = true;
  GPTConfig parallel_llama = metaguard::test::tiny_llama_config();
  parallel_llama.parallel_residual = true;
  parallel_llama.bias = true;
  GPTConfig partial_rope = metaguard::test::tiny_llama_config();
  partial_rope.rotary_percentage = 0.5;
  for (const GPTConfig& config :
       {micro(), metaguard::test::tiny_neox_config(), mqa, mha, tied, parallel_llama, partial_rope}) {
    for (const auto& lora : {std::optional<LoRAConfig>(), std::optional<LoRAConfig>(lora_with(true, true, true, true, true, false))}) {
      CAPTURE(config.name, config.n_query_groups, config.tie_embeddings, lora.has_value());
      GPT model = build_gpt(config, lora, BuildOptions{torch::kCPU, torch::kFloat32, 3});
      torch::Tensor logits = model->forward(random_tokens(2, 5, config.vocab_size, 1));
      CHECK(logits.sizes().vec() == Shape{2, 5, config.padded_vocab_size});
      CHECK(logits.dtype() == torch::kFloat32);
      CHECK(torch::isfinite(logits).all().item<bool>());
      CHECK(logits.std().item<double>() > 1e-3);
    }
  }
}

TEST_CASE("model gpt: the pythia-14m fixture builds and runs directly", "[model]") {
  GPTConfig config = metaguard::load_gpt_config(metaguard::test::source_path("fixtures/models/pythia-14m.json"));
  GPT model = build_gpt(config, metaguard::parse_lora_spec("r=8,alpha=16,targets=query+value"), BuildOptions{});
  torch::NoGradGuard no_grad;
  torch::Tensor logits = model->forward(random_tokens(1, 7, config.vocab_size, 2));
  CHECK(logits.sizes().vec() == Shape{1, 7, 50304});
  CHECK(torch::isfinite(logits).all().item<bool>());
}

TEST_CASE("model gpt: causal (changing a later token never changes an earlier logit)", "[model]") {
  for (const GPTConfig& config : {micro(), metaguard::test::tiny_neox_config()}) {
    CAPTURE(config.name);
    GPT model = build_gpt(config, lora_with(true, true, true, true, true, true), BuildOptions{torch::kCPU, torch::kFloat32, 11});
    randomize_lora_b(model, 5);
    torch::NoGradGuard no_grad;
    torch::Tensor tokens = random_tokens(2, 12, config.vocab_size, 3);
    torch::Tensor before = model->forward(tokens);
    for (int64_t changed : {0, 4, 11}) {
      torch::Tensor edited = tokens.clone();
      edited.select(1, changed).add_(1).remainder_(config.vocab_size);
      torch::Tensor after = model->forward(edited);
      if (changed > 0) CHECK(max_abs_diff(before.narrow(1, 0, changed), after.narrow(1, 0, changed)) <= 1e-6);
      CHECK(max_abs_diff(before.narrow(1, changed, 12 - changed), after.narrow(1, changed, 12 - changed)) > 1e-4);
    }
  }
}

TEST_CASE("model gpt: grouped query attention equals attention with K/V heads explicitly copied", "[model]") {
  const int64_t n_head = 6, groups = 2, hs = 8, q_per_kv = 3;
  GPTConfig gqa_config = metaguard::test::tiny_llama_config(n_head, groups, hs);
  GPTConfig mha_config = metaguard::test::tiny_llama_config(n_head, n_head, hs);
  GPT gqa = build_gpt(gqa_config, std::nullopt, BuildOptions{torch::kCPU, torch::kFloat32, 1});
  GPT mha = build_gpt(mha_config, std::nullopt, BuildOptions{torch::kCPU, torch::kFloat32, 2});
  {
    torch::NoGradGuard no_grad;
    auto source = gqa->named_parameters();
    for (auto& item : mha->named_parameters()) {
      const torch::Tensor& from = source[item.key()];
      if (item.key().find("attn.attn.weight") == std::string::npos) {
        item.value().copy_(from);
        continue;
      }
      // Fused rows, per group of `from`: q_per_kv query heads, key head, value head.
      // `item` (one head per group): query head h, then a copy of its group's key and value.
      for (int64_t h = 0; h < n_head; ++h) {
        const int64_t g = h / q_per_kv;
        const int64_t from_group = g * (q_per_kv + 2) * hs;
        const int64_t to_group = h * 3 * hs;
        item.value().narrow(0, to_group, hs).copy_(from.narrow(0, from_group + (h % q_per_kv) * hs, hs));
        item.value().narrow(0, to_group + hs, hs).copy_(from.narrow(0, from_group + q_per_kv * hs, hs));
        item.value().narrow(0, to_group + 2 * hs, hs).copy_(from.narrow(0, from_group + (q_per_kv + 1) * hs, hs));
      }
    }
  }
  torch::NoGradGuard no_grad;
  torch::Tensor tokens = random_tokens(2, 9, gqa_config.vocab_size, 4);
  torch::Tensor expected = mha->forward(tokens);
  torch::Tensor actual = gqa->forward(tokens);
  CHECK(max_abs_diff(expected, actual) <= 1e-5);
  CHECK(expected.abs().max().item<double>() > 0.1);
}

TEST_CASE("model gpt: tied embeddings share one storage, also after clone and on meta", "[model]") {
  GPTConfig config = metaguard::test::tiny_llama_config();
  config.tie_embeddings = true;
  for (const auto& lora : {std::optional<LoRAConfig>(), std::optional<LoRAConfig>(lora_with(true, false, true, false, true, false))}) {
    GPT model = build_gpt(config, lora, BuildOptions{torch::kCPU, torch::kFloat32, 9});
    auto params = model->named_parameters();
    const std::string head_key = lora ? "lm_head.linear.weight" : "lm_head.weight";
    REQUIRE(params.contains(head_key));
    torch::Tensor head = params[head_key];
    torch::Tensor wte = params["transformer.wte.weight"];
    CHECK(head.is_same(wte));
    CHECK(head.data_ptr() == wte.data_ptr());
    // The values are the embedding's: N(0, 1), not a Linear's +-1/sqrt(32).
    CHECK(wte.abs().max().item<double>() > 1.0);
    CHECK(unique_numel(model) == metaguard::count_parameters(config, lora).total());

    GPT copy = std::dynamic_pointer_cast<metaguard::GPTImpl>(model->clone());
    auto copied = copy->named_parameters();
    CHECK(copied[head_key].is_same(copied["transformer.wte.weight"]));
    CHECK(copied[head_key].data_ptr() != head.data_ptr());
    CHECK(torch::equal(copied[head_key], head));
    torch::Tensor tokens = random_tokens(1, 6, config.vocab_size, 1);
    CHECK(torch::equal(copy->forward(tokens), model->forward(tokens)));

    GPT meta = build_gpt(config, lora, BuildOptions{torch::kMeta});
    auto meta_params = meta->named_parameters();
    CHECK(meta_params[head_key].is_same(meta_params["transformer.wte.weight"]));
    metaguard::test::materialize_for_test(*meta, 9);
    CHECK(meta_params[head_key].is_same(meta_params["transformer.wte.weight"]));
    CHECK(metaguard::test::first_difference(*meta, *model).empty());
  }
  CHECK_THROWS_AS(build_gpt(config, lora_with(true, false, true, false, false, true)), metaguard::InputError);
}

TEST_CASE("model gpt: every parameter has an init recipe, every buffer a derived recipe", "[model]") {
  GPTConfig config = metaguard::test::tiny_neox_config();
  config.tie_embeddings = true;
  GPT model = build_gpt(config, lora_with(true, true, false, true, true, false), BuildOptions{torch::kMeta});
  int parameters = 0, buffers = 0;
  for (const auto& item : model->named_modules()) {
    auto* declarations = dynamic_cast<metaguard::TensorDeclarations*>(item.value().get());
    for (const auto& param : item.value()->named_parameters(false)) {
      CAPTURE(item.key(), param.key());
      REQUIRE(declarations != nullptr);
      if (item.key() == "lm_head.linear") {
        CHECK(declarations->init_recipe(param.key()) == nullptr);  // tied: the embedding's recipe rules
      } else {
        CHECK(declarations->init_recipe(param.key()) != nullptr);
      }
      ++parameters;
    }
    for (const auto& buffer : item.value()->named_buffers(false)) {
      CAPTURE(item.key(), buffer.key());
      REQUIRE(declarations != nullptr);
      CHECK(declarations->derived_recipe(buffer.key()) != nullptr);
      CHECK(declarations->is_nonpersistent(buffer.key()));
      ++buffers;
    }
  }
  CHECK(parameters == static_cast<int>(model->named_parameters().size()));
  CHECK(buffers == 3 + 2);  // cos, sin, mask_cache, one lora_ind per layer
}

TEST_CASE("model gpt: initial values follow PyTorch's and LitGPT's defaults", "[model]") {
  GPT model = build_gpt(metaguard::test::tiny_neox_config(), lora_with(true, false, true, true, false, false, 4),
                        BuildOptions{torch::kCPU, torch::kFloat32, 7});
  auto p = model->named_parameters();
  torch::Tensor wte = p["transformer.wte.weight"];  // N(0, 1)
  CHECK(std::abs(wte.mean().item<double>()) < 0.08);
  CHECK(std::abs(wte.std().item<double>() - 1.0) < 0.08);
  torch::Tensor proj = p["transformer.h.0.attn.proj.linear.weight"];  // U(-1/sqrt(32), 1/sqrt(32))
  const double bound = 1.0 / std::sqrt(32.0);
  CHECK(proj.abs().max().item<double>() <= bound);
  CHECK(proj.abs().max().item<double>() > 0.8 * bound);
  torch::Tensor fc_bias = p["transformer.h.0.mlp.fc.linear.bias"];  // U(-1/sqrt(32), 1/sqrt(32))
  CHECK(fc_bias.abs().max().item<double>() <= bound);
  CHECK(fc_bias.abs().max().item<double>() > 0.5 * bound);
  torch::Tensor mlp_proj_bias = p["transformer.h.0.mlp.proj.linear.bias"];  // fan_in 128
  CHECK(mlp_proj_bias.abs().max().item<double>() <= 1.0 / std::sqrt(128.0));
  CHECK(torch::equal(p["transformer.h.1.norm_2.weight"], torch::ones({32})));
  CHECK(torch::equal(p["transformer.h.1.norm_2.bias"], torch::zeros({32})));
  torch::Tensor lora_a = p["transformer.h.0.attn.attn.lora_A"];
  CHECK(lora_a.abs().max().item<double>() <= bound);
  CHECK(lora_a.abs().max().item<double>() > 0.8 * bound);
  CHECK(torch::equal(p["transformer.h.0.attn.attn.lora_B"], torch::zeros({4 * 8 + 4 * 8, 4})));
  CHECK(torch::equal(p["transformer.h.1.attn.proj.lora_B"], torch::zeros({32, 4})));
  // Different tensors draw from different streams.
  CHECK_FALSE(torch::equal(p["transformer.h.0.attn.proj.linear.weight"], p["transformer.h.1.attn.proj.linear.weight"]));

  GPT same = build_gpt(metaguard::test::tiny_neox_config(), lora_with(true, false, true, true, false, false, 4),
                       BuildOptions{torch::kCPU, torch::kFloat32, 7});
  CHECK(metaguard::test::first_difference(*model, *same).empty());
  GPT other = build_gpt(metaguard::test::tiny_neox_config(), lora_with(true, false, true, true, false, false, 4),
                        BuildOptions{torch::kCPU, torch::kFloat32, 8});
  CHECK_FALSE(metaguard::test::first_difference(*model, *other).empty());
}

TEST_CASE("model gpt: the rotary cache and the mask hold their closed forms", "[model]") {
  GPTConfig config = metaguard::test::tiny_neox_config();  // rope on 2 of 8 dims
  config.rotary_percentage = 0.5;                           // 4 dims: two frequencies
  config.rope_base = 500;
  GPT model = build_gpt(config, std::nullopt, BuildOptions{});
  const int64_t n = 4;
  REQUIRE(model->cos.sizes().vec() == Shape{16, n});
  for (int64_t t = 0; t < 16; ++t) {
    for (int64_t i = 0; i < n; ++i) {
      double angle = static_cast<double>(t) * std::pow(500.0, -2.0 * static_cast<double>(i % (n / 2)) / n);
      CHECK(model->cos[t][i].item<double>() == Approx(std::cos(angle)).margin(1e-5));
      CHECK(model->sin[t][i].item<double>() == Approx(std::sin(angle)).margin(1e-5));
    }
  }
  for (int64_t q = 0; q < 16; ++q) {
    for (int64_t k = 0; k < 16; ++k) CHECK(model->mask_cache[q][k].item<bool>() == (k <= q));
  }
}

TEST_CASE("model gpt: merge and unmerge move exactly the adapters' rows", "[model]") {
  GPT model = build_gpt(micro(), lora_with(true, false, true, true, false, false), BuildOptions{torch::kCPU, torch::kFloat32, 5});
  randomize_lora_b(model, 6);
  torch::Tensor tokens = random_tokens(2, 8, 256, 9);
  torch::NoGradGuard no_grad;
  torch::Tensor unmerged = model->forward(tokens);
  auto p = model->named_parameters();
  torch::Tensor qkv = p["transformer.h.0.attn.attn.linear.weight"];
  torch::Tensor before = qkv.clone();
  torch::Tensor fc = p["transformer.h.0.mlp.fc_1.linear.weight"].clone();

  model->merge_lora();
  torch::Tensor merged = model->forward(tokens);
  CHECK(max_abs_diff(merged, unmerged) <= 1e-5);
  // Key rows of group g (micro: 2 query heads of 16 rows, then key, then value, per group).
  for (int64_t g = 0; g < 2; ++g) {
    int64_t key_rows = (g * 4 + 2) * 16;
    CHECK(torch::equal(qkv.narrow(0, key_rows, 16), before.narrow(0, key_rows, 16)));
    CHECK_FALSE(torch::equal(qkv.narrow(0, key_rows + 16, 16), before.narrow(0, key_rows + 16, 16)));  // value
    CHECK_FALSE(torch::equal(qkv.narrow(0, g * 4 * 16, 32), before.narrow(0, g * 4 * 16, 32)));       // queries
  }
  CHECK(torch::equal(p["transformer.h.0.mlp.fc_1.linear.weight"], fc));  // mlp not a target
  torch::Tensor once = qkv.clone();
  model->merge_lora();  // already merged: no-op
  CHECK(torch::equal(qkv, once));

  model->unmerge_lora();
  CHECK(max_abs_diff(qkv, before) <= 1e-6);
  CHECK(max_abs_diff(model->forward(tokens), unmerged) <= 1e-5);
}

TEST_CASE("model gpt: LoRA-only training state (trainable flags, state dict, base keys)", "[model]") {
  GPT model = build_gpt(micro(), lora_with(true, true, false, false, true, true, 2), BuildOptions{torch::kMeta});
  model->mark_only_lora_trainable();
  std::vector<std::string> trainable;
  for (const auto& item : model->named_parameters()) {
    if (item.value().requires_grad()) trainable.push_back(item.key());
  }
  std::vector<std::string> expected = {"lm_head.lora_A", "lm_head.lora_B"};
  for (int layer = 0; layer < 2; ++layer) {
    std::string p = "transformer.h." + std::to_string(layer) + ".";
    for (const char* name : {"attn.attn.lora_A", "attn.attn.lora_B", "mlp.fc_1.lora_A", "mlp.fc_1.lora_B",
                             "mlp.fc_2.lora_A", "mlp.fc_2.lora_B", "mlp.proj.lora_A", "mlp.proj.lora_B"}) {
      expected.push_back(p + name);
    }
  }
  CHECK(trainable == expected);
  auto adapters = model->lora_state_dict();
  CHECK(adapters.keys() == expected);
  CHECK(adapters["lm_head.lora_B"].is_same(model->named_parameters()["lm_head.lora_B"]));

  CHECK(metaguard::to_base_key("transformer.h.3.attn.attn.linear.weight") == "transformer.h.3.attn.attn.weight");
  CHECK(metaguard::to_base_key("transformer.h.3.attn.proj.linear.bias") == "transformer.h.3.attn.proj.bias");
  CHECK(metaguard::to_base_key("lm_head.linear.weight") == "lm_head.weight");
  CHECK(metaguard::to_base_key("transformer.h.0.attn.attn.lora_A") == "transformer.h.0.attn.attn.lora_A");
  CHECK(metaguard::to_base_key("transformer.wte.weight") == "transformer.wte.weight");
  CHECK(metaguard::is_lora_parameter_name("lm_head.lora_A"));
  CHECK_FALSE(metaguard::is_lora_parameter_name("transformer.h.0.attn.attn.lora_ind.x"));
  CHECK_FALSE(metaguard::is_lora_parameter_name("a.linear.weight"));
}

TEST_CASE("model gpt: the parameter count from the config matches the built model", "[model]") {
  GPTConfig tied = metaguard::test::tiny_neox_config();
  tied.tie_embeddings = true;
  std::vector<std::pair<GPTConfig, std::optional<LoRAConfig>>> cases = {
      {micro(), std::nullopt},
      {micro(), metaguard::parse_lora_spec("r=8,targets=query+value")},
      {micro(), lora_with(true, true, true, true, true, true, 3)},
      {metaguard::test::tiny_neox_config(), lora_with(false, true, false, true, true, true, 5)},
      {tied, lora_with(true, false, false, false, true, false, 2)},
  };
  for (auto& [config, lora] : cases) {
    GPT model = build_gpt(config, lora, BuildOptions{torch::kMeta});
    auto count = metaguard::count_parameters(config, lora);
    CHECK(unique_numel(model) == count.total());
    int64_t adapters = 0;
    for (const auto& item : model->lora_state_dict()) adapters += item.value().numel();
    CHECK(adapters == count.lora);
  }
  // micro, r=8 on query+value: per layer A (2*8, 64) + B (64 + 32, 8), two layers.
  CHECK(metaguard::count_parameters(micro(), metaguard::parse_lora_spec("r=8,targets=query+value")).lora ==
        2 * (16 * 64 + 96 * 8));
}

TEST_CASE("model gpt: bad use is reported, not crashed on", "[model]") {
  GPT model = build_gpt(micro(), std::nullopt, BuildOptions{});
  CHECK_THROWS_AS(model->forward(random_tokens(1, 65, 256, 1)), metaguard::InputError);
  CHECK_THROWS(model->forward(torch::zeros({4}, torch::kInt64)));
  GPTConfig broken = micro();
  broken.n_query_groups = 3;
  CHECK_THROWS_AS(build_gpt(broken, std::nullopt, BuildOptions{torch::kMeta}), metaguard::InputError);
  LoRAConfig no_targets = lora_with(false, false, false, false, false, false);
  CHECK_THROWS_AS(build_gpt(micro(), no_targets, BuildOptions{torch::kMeta}), metaguard::InputError);
}

TEST_CASE("model gpt: a stale (meta) lora_ind breaks forward and merge, as in LitGPT 1378", "[model]") {
  GPT model = build_gpt(micro(), metaguard::parse_lora_spec("r=4,targets=query+value"), BuildOptions{});
  torch::Tensor tokens = random_tokens(1, 4, 256, 1);
  torch::Tensor expected = model->forward(tokens);
  torch::Tensor index = model->named_buffers()["transformer.h.1.attn.attn.lora_ind"];
  torch::Tensor meta = torch::empty(index.sizes(), index.options().device(torch::kMeta));
  index.unsafeGetTensorImpl()->shallow_copy_from(meta.getIntrusivePtr());
  CHECK(index.is_meta());
  CHECK_THROWS_WITH(model->forward(tokens), Catch::Contains("lora_ind is on meta"));
  // Unguarded, index_add_ with a meta index dispatches to the meta kernel and silently
  // leaves the CPU weight as it was: the layer refuses instead.
  CHECK_THROWS_WITH(model->merge_lora(), Catch::Contains("not recomputed"));
  // The recipe restores it.
  metaguard::test::materialize_for_test(*model, 0);
  CHECK(torch::equal(model->forward(tokens), expected));  // same seed: same weights, index recomputed
  CHECK(torch::equal(index, metaguard::lora_qkv_rows(model->transformer->h->ptr(1)
                                                         ->as<metaguard::BlockImpl>()
                                                         ->attn->attn_lora->options,
                                                     torch::kCPU)));
}

TEST_CASE("model gpt: a stale (meta) rotary cache or mask is refused by name", "[model]") {
  for (const char* name : {"cos", "sin", "mask_cache"}) {
    GPT model = build_gpt(micro(), std::nullopt, BuildOptions{});
    torch::Tensor buffer = model->named_buffers()[name];
    torch::Tensor meta = torch::empty(buffer.sizes(), buffer.options().device(torch::kMeta));
    buffer.unsafeGetTensorImpl()->shallow_copy_from(meta.getIntrusivePtr());
    CHECK_THROWS_WITH(model->forward(random_tokens(1, 4, 256, 1)),
                      Catch::Contains(std::string("'") + name + "' is on meta"));
  }
}

TEST_CASE("model gpt: clone copies everything into independent tensors", "[model]") {
  GPT model = build_gpt(micro(), metaguard::parse_lora_spec("r=4,targets=query+key+value"), BuildOptions{torch::kCPU, torch::kFloat32, 2});
  randomize_lora_b(model, 1);
  GPT copy = std::dynamic_pointer_cast<metaguard::GPTImpl>(model->clone());
  CHECK(metaguard::test::first_difference(*model, *copy).empty());
  torch::Tensor tokens = random_tokens(2, 5, 256, 3);
  CHECK(torch::equal(model->forward(tokens), copy->forward(tokens)));
  auto a = model->named_parameters();
  auto b = copy->named_parameters();
  CHECK(a["transformer.wte.weight"].data_ptr() != b["transformer.wte.weight"].data_ptr());
  CHECK(copy->derived_buffer_names() == model->derived_buffer_names());
}

TEST_CASE("model gpt: dtype and device come from the build options", "[model]") {
  GPT model = build_gpt(micro(), metaguard::parse_lora_spec("r=4,targets=query"), BuildOptions{torch::kMeta, torch::kBFloat16});
  for (const auto& item : model->named_parameters()) CHECK(item.value().dtype() == torch::kBFloat16);
  auto buffers = model->named_buffers();
  CHECK(buffers["cos"].dtype() == torch::kBFloat16);
  CHECK(buffers["mask_cache"].dtype() == torch::kBool);
  CHECK(buffers["transformer.h.0.attn.attn.lora_ind"].dtype() == torch::kInt64);
  CHECK(buffers["transformer.h.0.attn.attn.lora_ind"].numel() == 64);  // query rows only

  GPT doubles = build_gpt(micro(), std::nullopt, BuildOptions{torch::kCPU, torch::kFloat64, 1});
  CHECK(doubles->forward(random_tokens(1, 3, 256, 1)).dtype() == torch::kFloat64);
}
