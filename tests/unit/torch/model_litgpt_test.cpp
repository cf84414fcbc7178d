// LitGPT's side of the model: its config catalog and field names, checkpoint directories,
// the two QKV checkpoint layouts, its LoRA spec names. (tests/litgpt compares the numbers
// with LitGPT itself; these tests hold the rules without it.)
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <set>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/errors.hpp"
#include "load/qkv_layout.hpp"
#include "model/gpt.hpp"
#include "model/model_catalog.hpp"
#include "model/parameter_count.hpp"
#include "support/input_error.hpp"
#include "support/scratch_dir.hpp"

namespace {

using nlohmann::json;
using namespace metaguard;
namespace test = metaguard::test;

struct ScopedSourceDir {
  ScopedSourceDir() { ::setenv("METAGUARD_SOURCE_DIR", METAGUARD_SOURCE_DIR, 1); }
};

// Parameters of a live model, tied ones once.
int64_t live_parameters(GPTImpl& model, bool adapters) {
  std::unordered_set<const c10::TensorImpl*> seen;
  int64_t total = 0;
  for (const auto& item : model.named_parameters()) {
    if (is_lora_parameter_name(item.key()) != adapters) continue;
    if (seen.insert(item.value().unsafeGetTensorImpl()).second) total += item.value().numel();
  }
  return total;
}

json catalog() {
  std::ifstream in(std::string(METAGUARD_SOURCE_DIR) + "/fixtures/litgpt/configs.json");
  return json::parse(in);
}

}  // namespace

TEST_CASE("litgpt catalog: every LitGPT 0.5.13 config is read, builds on meta, and counts its parameters as built",
          "[model][litgpt]") {
  ScopedSourceDir source;
  const json configs = catalog()["configs"];
  REQUIRE(configs.size() == 210);
  LoRAConfig lora;
  lora.r = 4;
  lora.key = lora.projection = lora.mlp = lora.head = true;
  std::set<std::string> mlps;
  for (const auto& entry : configs) {
    const std::string name = entry["name"].get<std::string>();
    INFO(name);
    GPTConfig config = gpt_config_from_json(entry, "catalog", "", ConfigDialect::LitGPT);
    CHECK(config.name == name);
    mlps.insert(to_string(config.mlp_class));
    // Each part's own shapes, summed, against the count from the config alone.
    GPT plain = build_gpt(config, std::nullopt, BuildOptions{torch::kMeta});
    CHECK(live_parameters(*plain, false) == count_parameters(config, std::nullopt).base);
    GPT adapted = build_gpt(config, lora, BuildOptions{torch::kMeta});
    CHECK(live_parameters(*adapted, false) == count_parameters(config, lora).base);
    CHECK(live_parameters(*adapted, true) == count_parameters(config, lora).lora);
    // Written back and read again: the same config.
    CHECK(gpt_config_to_json(gpt_config_from_json(gpt_config_to_json(config), "again", "")) == gpt_config_to_json(config));
  }
  CHECK(mlps == std::set<std::string>{"GptNeoxMLP", "LLaMAMLP", "GemmaMLP", "LLaMAMoE"});
}

TEST_CASE("litgpt catalog: --model takes LitGPT's names, Hugging Face names and org/name", "[model][litgpt]") {
  ScopedSourceDir source;
  GPTConfig llama = resolve_model_config("Llama-3.2-1B");
  CHECK(llama.n_layer == 16);
  CHECK(llama.n_embd == 2048);
  CHECK(llama.n_query_groups == 8);
  REQUIRE(llama.rope_adjustments);
  CHECK(llama.rope_adjustments->kind == RopeAdjustments::Kind::Llama3);
  CHECK(llama.rope_adjustments->factor == 32);
  GPTConfig qwen = resolve_model_config("Qwen2.5-7B");
  CHECK(qwen.attn_bias);
  CHECK_FALSE(qwen.bias);
  GPTConfig gemma = resolve_model_config("Gemma-2-9b");
  CHECK(gemma.norm_unit_offset);  // "Gemma" in the name, as LitGPT decides it
  CHECK(gemma.post_attention_norm);
  CHECK(gemma.attention_logit_softcapping == 50.0);
  CHECK(gemma.sliding_window_at(0));
  CHECK_FALSE(gemma.sliding_window_at(1));  // every other layer is global
  CHECK(gemma.n_head * gemma.head_size != gemma.n_embd);
  GPTConfig mixtral = resolve_model_config("Mixtral-8x7B-v0.1");
  CHECK(mixtral.mlp_class == MlpClass::LLaMAMoE);
  CHECK(mixtral.n_expert == 8);
  CHECK(mixtral.n_expert_per_token == 2);
  CHECK(mixtral.moe_intermediate_size == mixtral.intermediate_size);  // LitGPT's fallback
  CHECK(resolve_model_config("meta-llama/Llama-3.2-1B").name == "Llama-3.2-1B");
  CHECK(resolve_model_config("OLMo-1B-hf").norm_affine == false);  // "OLMo" + LayerNorm: no weight, no bias
  // metaguard's own models come first.
  CHECK(resolve_model_config("micro").name == "micro");
  CHECK_THAT(test::input_error_of([] { resolve_model_config("Llama-9-1B"); }),
             Catch::Contains("unknown model 'Llama-9-1B'") && Catch::Contains("LitGPT's config names"));
}

TEST_CASE("litgpt config: LitGPT's features metaguard cannot build are refused by name, never built wrong",
          "[model][litgpt]") {
  json base = {{"name", "x"}, {"n_layer", 2}, {"n_head", 4}, {"n_embd", 32}, {"vocab_size", 64}, {"block_size", 16}};
  auto refused = [&](const std::string& field, const json& value) {
    json object = base;
    object[field] = value;
    return test::input_error_of([&] { gpt_config_from_json(object, "cfg", "x", ConfigDialect::LitGPT); });
  };
  CHECK_THAT(refused("latent_attention", json{{"q_lora_rank", 8}}), Catch::Contains("latent attention") &&
                                                                        Catch::Contains("'latent_attention'"));
  CHECK_THAT(refused("n_shared_expert", 1), Catch::Contains("shared experts"));
  CHECK_THAT(refused("n_expert_groups", 2), Catch::Contains("grouped expert routing"));
  CHECK_THAT(refused("first_k_dense_replace", 1), Catch::Contains("dense first layers"));
  CHECK_THAT(refused("routed_scaling_factor", 2.5), Catch::Contains("scaled expert routing"));
  CHECK_THAT(refused("rope_adjustments", json{{"factor", 8.0}, {"beta_fast", 32}, {"beta_slow", 0},
                                              {"original_max_seq_len", 4096}}),
             Catch::Contains("'beta_slow' must be positive"));
  CHECK_THAT(refused("rope_adjustments", json{{"factor", 8.0}, {"mscale_all_dim", 1.0}}),
             Catch::Contains("belong to YaRN"));
  CHECK_THAT(refused("padding_multiple", json::number_integer_t{-(int64_t{1} << 40)}), Catch::Contains("too large"));
  json experts = base;
  experts.update({{"mlp_class_name", "LLaMAMoE"}, {"intermediate_size", 64}, {"n_expert", 1024},
                  {"n_expert_per_token", 2}, {"n_layer", 1024}});
  CHECK_THAT(test::input_error_of([&] { gpt_config_from_json(experts, "cfg", "x", ConfigDialect::LitGPT); }),
             Catch::Contains("'n_expert'") && Catch::Contains("more than the supported"));
  // LitGPT's "off" values pass.
  CHECK(refused("latent_attention", nullptr).empty());
  CHECK(refused("routed_scaling_factor", 1.0).empty());
  CHECK(refused("n_shared_expert", nullptr).empty());
  // Rules LitGPT applies too.
  json window = base;
  window["sliding_window_size"] = 4;
  window["sliding_window_indices"] = {1};  // one entry for two layers
  CHECK_THAT(test::input_error_of([&] { gpt_config_from_json(window, "cfg", "x", ConfigDialect::LitGPT); }),
             Catch::Contains("'sliding_window_indices'") && Catch::Contains("1 entries for 2 layers"));
  window["sliding_window_indices"] = {1, 0, 1};  // longer: cut to n_layer, as LitGPT does
  CHECK(gpt_config_from_json(window, "cfg", "x", ConfigDialect::LitGPT).sliding_window_indices ==
        std::vector<int64_t>{1, 0});
  CHECK_THAT(refused("gelu_approximate", "erf"), Catch::Contains("'gelu_approximate'"));
  CHECK_THAT(refused("norm_qk_type", "rms"), Catch::Contains("'norm_qk_type'"));
  CHECK_THAT(refused("rope_adjustments", json{{"factor", 8.0}, {"low_freq_factor", 1.0}}),
             Catch::Contains("'rope_adjustments'") && Catch::Contains("high_freq_factor"));
  CHECK_THAT(refused("rope_adjustments", json{{"factor", 8.0}, {"low_freq_factor", 1.0}, {"beta_fast", 32}}),
             Catch::Contains("exclude each other"));
  json shared = base;
  shared["shared_attention_norm"] = true;
  shared["parallel_residual"] = false;
  CHECK_THAT(test::input_error_of([&] { gpt_config_from_json(shared, "cfg", "x", ConfigDialect::LitGPT); }),
             Catch::Contains("'shared_attention_norm'"));
  // Metaguard's own files still state their sizes; LitGPT's take LitGPT's defaults.
  json bare = {{"name", "y"}};
  CHECK_THAT(test::input_error_of([&] { gpt_config_from_json(bare, "cfg", "y"); }), Catch::Contains("'n_layer'") && Catch::Contains("required"));
  GPTConfig defaults = gpt_config_from_json(bare, "cfg", "y", ConfigDialect::LitGPT);
  CHECK(defaults.n_layer == 16);
  CHECK(defaults.n_embd == 4096);
  CHECK(defaults.padded_vocab_size == 50688);  // 50254 rounded up to a multiple of 512
}

TEST_CASE("litgpt checkpoint directory: model_config.yaml and lit_model.pth", "[model][litgpt]") {
  test::ScratchDir dir;
  const std::string yaml = R"(attention_logit_softcapping: null
bias: false
block_size: 32
hf_config: {}
intermediate_size: 80
latent_attention: null
lora_r: 8
lora_query: true
mlp_class_name: LLaMAMLP
n_embd: 48
n_head: 6
n_layer: 2
n_query_groups: 2
name: 'Llama-3-8B'
norm_class_name: RMSNorm
norm_eps: 1.0e-05
padded_vocab_size: 128
rope_adjustments: {factor: 8.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_seq_len: 418}
rope_base: 500000
rotary_percentage: 1.0
sliding_window_indices: null
vocab_size: 100
)";
  dir.write("model_config.yaml", yaml);
  ModelSource bare = resolve_model(dir.path());
  CHECK(bare.checkpoint.empty());  // no lit_model.pth yet
  CHECK(bare.config.name == "Llama-3-8B");
  CHECK(bare.config.head_size == 8);
  CHECK(bare.config.rope_base == 500000);
  CHECK(bare.config.rope_adjustments->original_max_seq_len == 418);
  dir.write("lit_model.pth", "not read here");
  CHECK(resolve_model(dir.path()).checkpoint == dir.file("lit_model.pth"));
  CHECK(resolve_model(dir.file("model_config.yaml")).config.n_layer == 2);
  CHECK(resolve_model(dir.path() + "/").checkpoint == dir.file("lit_model.pth"));  // a trailing slash

  dir.write("model_config.yaml", "n_layer: [1, 2\n");
  CHECK_THAT(test::input_error_of([&] { resolve_model(dir.path()); }), Catch::Contains("model_config.yaml") && Catch::Contains("YAML"));
  dir.write("model_config.yaml", "n_layer: '2'\n");
  CHECK_THAT(test::input_error_of([&] { resolve_model(dir.path()); }), Catch::Contains("'n_layer'") && Catch::Contains("integer"));
  dir.write("model_config.yaml", "frobnicate: 1\n");
  CHECK_THAT(test::input_error_of([&] { resolve_model(dir.path()); }), Catch::Contains("unknown field 'frobnicate'"));
}

TEST_CASE("qkv layout: the grouped and interleaved row orders, by hand, and the key names", "[load][litgpt]") {
  // 4 query heads in 2 groups, head size 1: interleaved q0 q1 k0 v0 q2 q3 k1 v1,
  // grouped q0 q1 q2 q3 k0 k1 v0 v1. Rows are labelled by (kind * 10 + head).
  const QkvGeometry geometry{4, 2, 1};
  torch::Tensor interleaved = torch::tensor({0, 1, 10, 20, 2, 3, 11, 21}, torch::kFloat32);
  torch::Tensor grouped = torch::tensor({0, 1, 2, 3, 10, 11, 20, 21}, torch::kFloat32);
  CHECK(torch::equal(grouped_from_interleaved(interleaved, geometry), grouped));
  CHECK(torch::equal(interleaved_from_grouped(grouped, geometry), interleaved));
  // Rows of any width move whole, both ways exact, for multi-query and plain attention too.
  for (QkvGeometry g : {QkvGeometry{6, 2, 3}, QkvGeometry{4, 1, 2}, QkvGeometry{3, 3, 4}}) {
    torch::Tensor weight = torch::randn({(g.n_head + 2 * g.n_query_groups) * g.head_size, 5});
    CHECK(torch::equal(interleaved_from_grouped(grouped_from_interleaved(weight, g), g), weight));
  }
  CHECK_THAT(test::input_error_of([&] { grouped_from_interleaved(torch::zeros({7}), geometry); }), Catch::Contains("7 rows"));

  CHECK(grouped_key("transformer.h.3.attn.attn.linear.weight") == "transformer.h.3.attn.qkv.linear.weight");
  CHECK(grouped_key("transformer.h.3.attn.attn.lora_B") == "transformer.h.3.attn.qkv.lora_B");
  CHECK(grouped_key("transformer.h.3.attn.proj.weight") == "transformer.h.3.attn.proj.weight");
  CHECK(has_fused_qkv_rows("transformer.h.0.attn.attn.bias"));
  CHECK(has_fused_qkv_rows("transformer.h.0.attn.attn.linear.weight"));
  CHECK_FALSE(has_fused_qkv_rows("transformer.h.0.attn.attn.lora_B"));  // adapters' rows agree in both layouts
  CHECK_FALSE(has_fused_qkv_rows("transformer.h.0.attn.proj.weight"));
  CHECK(detect_qkv_layout({"lm_head.weight", "transformer.h.0.attn.qkv.weight"}) == QkvLayout::Grouped);
  CHECK(detect_qkv_layout({"lm_head.weight", "transformer.h.0.attn.attn.weight"}) == QkvLayout::Interleaved);
}

TEST_CASE("lora spec: LitGPT's names switch targets from the default set", "[model][lora][litgpt]") {
  auto spec = [](const std::string& text) { return parse_lora_spec(text); };
  auto lora = spec("lora_r=4,lora_alpha=8,lora_dropout=0.05,lora_key=true,lora_value=false,lora_head=1");
  REQUIRE(lora);
  CHECK(lora->r == 4);
  CHECK(lora->alpha == 8);
  CHECK(lora->dropout == 0.05);
  CHECK(lora->query);  // default on, left on
  CHECK(lora->key);
  CHECK_FALSE(lora->value);
  CHECK(lora->head);
  CHECK_FALSE(lora->mlp);
  CHECK(spec("lora_r=4,lora_query=false,lora_value=false,lora_mlp=true")->to_spec() ==
        "r=4,alpha=16,dropout=0,targets=mlp");
  CHECK_THAT(test::input_error_of([&] { spec("lora_r=4,lora_key=maybe"); }), Catch::Contains("lora_key") && Catch::Contains("true or false"));
  CHECK_THAT(test::input_error_of([&] { spec("targets=query,lora_key=true"); }), Catch::Contains("exclude each other"));
  CHECK_THAT(test::input_error_of([&] { spec("r=4,lora_r=8"); }), Catch::Contains("given twice"));
  CHECK_THAT(test::input_error_of([&] { spec("lora_query=false,lora_value=false"); }), Catch::Contains("at least one"));
}

TEST_CASE("long contexts: the causal mask is cached up to 4096 tokens and built for longer sequences",
          "[model][litgpt]") {
  ScopedSourceDir source;
  // Llama 3.2's 131,072-token context: a full mask would be 16 GiB of bool.
  GPT llama = build_gpt(resolve_model_config("Llama-3.2-1B"), std::nullopt, BuildOptions{torch::kMeta});
  CHECK(llama->mask_cache.sizes().vec() == std::vector<int64_t>{kMaskCacheRows, kMaskCacheRows});
  CHECK(llama->cos.size(0) == 131072);

  // A tiny model with a longer context than the cache: causal, so the first 4096 positions'
  // logits cannot depend on what follows them, whichever mask served.
  GPTConfig tiny;
  tiny.name = "tiny-long";
  tiny.n_layer = 1;
  tiny.n_head = tiny.n_query_groups = 1;
  tiny.n_embd = tiny.head_size = 4;
  tiny.intermediate_size = 8;
  tiny.vocab_size = tiny.padded_vocab_size = 16;
  tiny.block_size = kMaskCacheRows + 4;
  tiny.rotary_percentage = 1.0;
  GPT model = build_gpt(tiny, std::nullopt, BuildOptions{torch::kCPU, torch::kFloat32, 3});
  torch::NoGradGuard no_grad;
  torch::Tensor tokens = torch::randint(0, 16, {1, tiny.block_size}, torch::kInt64);
  torch::Tensor whole = model->forward(tokens);                                  // mask built in forward
  torch::Tensor prefix = model->forward(tokens.narrow(1, 0, kMaskCacheRows));    // the cached mask
  CHECK(torch::allclose(whole.narrow(1, 0, kMaskCacheRows), prefix, 1e-5, 1e-6));
}
