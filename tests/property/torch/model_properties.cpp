#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/causal_self_attention.hpp"
#include "model/gpt.hpp"
#include "model/lora_qkv_linear.hpp"
#include "unit/torch/model_test_support.hpp"

using metaguard::BuildOptions;
using metaguard::GPT;
using metaguard::GPTConfig;
using metaguard::LoRAConfig;

namespace {

// A random small config of either family: 1-2 layers, up to 6 heads in 1-3 groups, head
// size 2-8, any norm/MLP/residual/bias/tie combination, rotary on an even share of a head.
GPTConfig random_config() {
  GPTConfig c;
  c.name = "random";
  c.n_layer = *rc::gen::inRange<int64_t>(1, 3);
  c.n_query_groups = *rc::gen::inRange<int64_t>(1, 4);
  c.n_head = c.n_query_groups * *rc::gen::inRange<int64_t>(1, 3);
  c.head_size = *rc::gen::element<int64_t>(2, 4, 8);
  c.n_embd = c.n_head * c.head_size;
  c.intermediate_size = *rc::gen::inRange<int64_t>(1, 24);
  c.vocab_size = *rc::gen::inRange<int64_t>(2, 40);
  c.padded_vocab_size = c.vocab_size + *rc::gen::inRange<int64_t>(0, 9);
  c.block_size = *rc::gen::inRange<int64_t>(1, 10);
  const int64_t rope_pairs = *rc::gen::inRange<int64_t>(1, c.head_size / 2 + 1);
  c.rotary_percentage = static_cast<double>(2 * rope_pairs) / static_cast<double>(c.head_size);  // exact
  c.parallel_residual = *rc::gen::arbitrary<bool>();
  c.bias = *rc::gen::arbitrary<bool>();
  c.norm_class = *rc::gen::element(metaguard::NormClass::RMSNorm, metaguard::NormClass::LayerNorm);
  c.mlp_class = *rc::gen::element(metaguard::MlpClass::LLaMAMLP, metaguard::MlpClass::GptNeoxMLP);
  c.rope_base = *rc::gen::element(10000.0, 500.0);
  c.tie_embeddings = *rc::gen::arbitrary<bool>();
  RC_ASSERT(c.rope_n_elem() == 2 * rope_pairs);
  return c;
}

// Random LoRA settings with a non-empty target set that suits the config.
LoRAConfig random_lora(const GPTConfig& config) {
  LoRAConfig lora;
  lora.r = *rc::gen::inRange<int64_t>(1, 5);
  lora.alpha = *rc::gen::element(1.0, 8.0, 16.0);
  lora.dropout = 0;
  auto flags = *rc::gen::container<std::vector<bool>>(6, rc::gen::arbitrary<bool>());
  lora.query = flags[0];
  lora.key = flags[1];
  lora.value = flags[2];
  lora.projection = flags[3];
  lora.mlp = flags[4];
  lora.head = flags[5] && !config.tie_embeddings;
  if (!lora.any_target()) lora.value = true;
  return lora;
}

void randomize_lora_b(GPT& model, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto generator = at::detail::createCPUGenerator(seed);
  for (auto& item : model->lora_state_dict()) {
    if (item.key().find("lora_B") != std::string::npos) item.value().normal_(0.0, 0.1, generator);
  }
}

torch::Tensor random_batch(const GPTConfig& config, uint64_t seed) {
  const int64_t steps = *rc::gen::inRange<int64_t>(1, config.block_size + 1);
  return metaguard::test::random_tokens(2, steps, config.vocab_size, seed);
}

// The fused rows of each target, enumerated head by head in LitGPT's interleaved layout.
std::vector<int64_t> expected_rows(int64_t n_head, int64_t groups, int64_t head_size, bool q, bool k, bool v) {
  const int64_t q_per_kv = n_head / groups;
  std::vector<int64_t> queries, keys, values;
  int64_t row = 0;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t head = 0; head < q_per_kv; ++head) {
      for (int64_t i = 0; i < head_size; ++i) queries.push_back(row++);
    }
    for (int64_t i = 0; i < head_size; ++i) keys.push_back(row++);
    for (int64_t i = 0; i < head_size; ++i) values.push_back(row++);
  }
  std::vector<int64_t> out;
  if (q) out.insert(out.end(), queries.begin(), queries.end());
  if (k) out.insert(out.end(), keys.begin(), keys.end());
  if (v) out.insert(out.end(), values.begin(), values.end());
  return out;
}

}  // namespace

TEST_CASE("model property: with B = 0 a LoRA model computes exactly the base model", "[model][property]") {
  rc::prop("LoRA(B=0) == base", [] {
    GPTConfig config = random_config();
    LoRAConfig lora = random_lora(config);
    const auto seed = *rc::gen::inRange<uint64_t>(0, 1000);
    GPT base = metaguard::build_gpt(config, std::nullopt, BuildOptions{torch::kCPU, torch::kFloat32, seed});
    GPT adapted = metaguard::build_gpt(config, lora, BuildOptions{torch::kCPU, torch::kFloat32, seed + 1});
    torch::NoGradGuard no_grad;
    auto base_params = base->named_parameters();
    for (auto& item : adapted->named_parameters()) {
      if (metaguard::is_lora_parameter_name(item.key())) continue;
      std::string key = metaguard::to_base_key(item.key());
      RC_ASSERT(base_params.contains(key));
      item.value().copy_(base_params[key]);
    }
    torch::Tensor tokens = random_batch(config, seed);
    RC_ASSERT(torch::equal(adapted->forward(tokens), base->forward(tokens)));
  });
}

TEST_CASE("model property: merged equals unmerged within 1e-5", "[model][property]") {
  rc::prop("merge keeps the function", [] {
    GPTConfig config = random_config();
    LoRAConfig lora = random_lora(config);
    const auto seed = *rc::gen::inRange<uint64_t>(0, 1000);
    // float64: the property is about the algebra of merging. In float32 a LayerNorm over two
    // nearly equal features (n_embd = 2) amplifies rounding of W + dW past 1e-5; a wrong
    // merge is off by orders of magnitude more in either precision (the unit test checks
    // micro in float32).
    GPT model = metaguard::build_gpt(config, lora, BuildOptions{torch::kCPU, torch::kFloat64, seed});
    randomize_lora_b(model, seed);
    torch::NoGradGuard no_grad;
    torch::Tensor tokens = random_batch(config, seed);
    torch::Tensor unmerged = model->forward(tokens);
    std::vector<torch::Tensor> weights_before;
    for (const auto& item : model->named_parameters()) weights_before.push_back(item.value().clone());

    model->merge_lora();
    torch::Tensor merged = model->forward(tokens);
    RC_ASSERT(torch::allclose(merged, unmerged, /*rtol=*/0, /*atol=*/1e-5));

    model->unmerge_lora();
    auto params = model->named_parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      RC_ASSERT(torch::allclose(params[i].value(), weights_before[i], 0, 1e-9));
    }
    RC_ASSERT(torch::allclose(model->forward(tokens), unmerged, 0, 1e-5));
  });
}

TEST_CASE("model property: lora_ind selects exactly the enabled targets' rows", "[model][property]") {
  rc::prop("lora_ind rows", [] {
    const int64_t groups = *rc::gen::inRange<int64_t>(1, 5);
    const int64_t n_head = groups * *rc::gen::inRange<int64_t>(1, 5);
    const int64_t head_size = *rc::gen::inRange<int64_t>(1, 6);
    auto flags = *rc::gen::suchThat(rc::gen::container<std::vector<bool>>(3, rc::gen::arbitrary<bool>()),
                                    [](const std::vector<bool>& f) { return f[0] || f[1] || f[2]; });
    const bool q = flags[0], k = flags[1], v = flags[2];
    auto options = metaguard::LoRAQKVLinearOptions(n_head * head_size, head_size, n_head, groups)
                       .r(2)
                       .alpha(2)
                       .bias(false)
                       .enable_query(q)
                       .enable_key(k)
                       .enable_value(v);
    metaguard::LoRAQKVLinear layer(options);
    metaguard::initialize_module(*layer, 1);
    std::vector<int64_t> expected = expected_rows(n_head, groups, head_size, q, k, v);
    // A strict subset stores the index as a derived buffer; all three compute it when used.
    RC_ASSERT(layer->lora_ind.defined() == !(q && k && v));
    torch::Tensor index = layer->row_index();
    RC_ASSERT(index.numel() == static_cast<int64_t>(expected.size()));
    RC_ASSERT(std::vector<int64_t>(index.data_ptr<int64_t>(), index.data_ptr<int64_t>() + index.numel()) == expected);

    // What the attention reads: with the pretrained weight at zero and each target's B set
    // to its own constant, the split q/k/v carry exactly their own target's constant.
    torch::NoGradGuard no_grad;
    layer->linear->weight.zero_();
    layer->lora_A.fill_(1.0);
    int64_t offset = 0;
    const double marks[3] = {1.0, 2.0, 3.0};
    const int64_t sizes[3] = {n_head * head_size, groups * head_size, groups * head_size};
    for (int t = 0; t < 3; ++t) {
      if (!flags[t]) continue;
      layer->lora_B.narrow(0, offset, sizes[t]).fill_(marks[t]);
      offset += sizes[t];
    }
    torch::Tensor x = torch::full({1, 2, n_head * head_size}, 1.0 / static_cast<double>(n_head * head_size * 2));
    // Each output row of target t: mark_t * r * sum(x) * scaling = mark_t * 2 * 0.5 * 1 = mark_t.
    metaguard::SplitQKV split = metaguard::split_qkv(layer->forward(x), n_head, groups, head_size);
    const torch::Tensor* parts[3] = {&split.q, &split.k, &split.v};
    for (int t = 0; t < 3; ++t) {
      torch::Tensor want = torch::full_like(*parts[t], flags[t] ? marks[t] : 0.0);
      RC_ASSERT(torch::allclose(*parts[t], want, 1e-5, 1e-5));
    }
  });
}

TEST_CASE("model property: built on meta and materialized with seed s equals built directly with s", "[model][property]") {
  rc::prop("meta + materialize == direct, bit for bit", [] {
    GPTConfig config = random_config();
    std::optional<LoRAConfig> lora;
    if (*rc::gen::arbitrary<bool>()) lora = random_lora(config);
    const auto seed = *rc::gen::arbitrary<uint64_t>();
    GPT direct = metaguard::build_gpt(config, lora, BuildOptions{torch::kCPU, torch::kFloat32, seed});
    GPT meta = metaguard::build_gpt(config, lora, BuildOptions{torch::kMeta, torch::kFloat32, seed});
    for (const auto& item : meta->named_parameters()) RC_ASSERT(item.value().is_meta());
    metaguard::test::materialize_for_test(*meta, seed);
    std::string difference = metaguard::test::first_difference(*meta, *direct);
    RC_ASSERT(difference == "");
    if (config.tie_embeddings) {
      auto params = meta->named_parameters();
      RC_ASSERT(params[lora ? "lm_head.linear.weight" : "lm_head.weight"].is_same(params["transformer.wte.weight"]));
    }
    torch::NoGradGuard no_grad;
    torch::Tensor tokens = random_batch(config, seed % 1000);
    RC_ASSERT(torch::equal(meta->forward(tokens), direct->forward(tokens)));
  });
}
