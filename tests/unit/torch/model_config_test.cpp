#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "model/gpt_config.hpp"
#include "model/model_catalog.hpp"
#include "model/lora_config.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;
using metaguard::GPTConfig;
using metaguard::InputError;
using nlohmann::json;

namespace {

// A scratch directory per test, removed afterwards.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    path = fs::temp_directory_path() / ("metaguard-model-config-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code error;
    fs::remove_all(path, error);
  }
  fs::path write(const std::string& name, const std::string& text) const {
    fs::path file = path / name;
    std::ofstream(file) << text;
    return file;
  }
};

json micro_json() {
  return json::parse(R"({"name": "m", "n_layer": 2, "n_head": 4, "n_query_groups": 2, "n_embd": 64,
    "head_size": 16, "intermediate_size": 128, "vocab_size": 256, "padded_vocab_size": 256,
    "block_size": 64, "rotary_percentage": 1.0, "parallel_residual": false, "bias": false,
    "norm_class": "RMSNorm", "norm_eps": 1e-05, "mlp_class": "LLaMAMLP", "rope_base": 10000,
    "tie_embeddings": false})");
}

// The InputError message for parsing `object`, or "" if it parsed.
std::string error_for(const json& object) {
  try {
    metaguard::gpt_config_from_json(object, "cfg.json", "cfg");
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

std::string lora_error_for(const std::string& spec) {
  try {
    metaguard::parse_lora_spec(spec);
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

// Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  ScopedEnv(std::string key, const std::string& value) : name(std::move(key)) { ::setenv(name.c_str(), value.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

}  // namespace

TEST_CASE("model config: the shared configs load with the values in their files", "[model][config]") {
  GPTConfig micro = metaguard::load_gpt_config(metaguard::test::source_path("fixtures/models/micro.json"));
  CHECK(micro.name == "micro");
  CHECK(micro.n_layer == 2);
  CHECK(micro.n_head == 4);
  CHECK(micro.n_query_groups == 2);
  CHECK(micro.n_embd == 64);
  CHECK(micro.head_size == 16);
  CHECK(micro.intermediate_size == 128);
  CHECK(micro.norm_class == metaguard::NormClass::RMSNorm);
  CHECK(micro.mlp_class == metaguard::MlpClass::LLaMAMLP);
  CHECK_FALSE(micro.parallel_residual);
  CHECK(micro.rope_n_elem() == 16);

  GPTConfig pythia = metaguard::load_gpt_config(metaguard::test::source_path("fixtures/models/pythia-14m.json"));
  CHECK(pythia.padded_vocab_size == 50304);
  CHECK(pythia.vocab_size == 50254);
  CHECK(pythia.rope_n_elem() == 8);  // 0.25 of head_size 32
  CHECK(pythia.norm_class == metaguard::NormClass::LayerNorm);
  CHECK(pythia.mlp_class == metaguard::MlpClass::GptNeoxMLP);
  CHECK(pythia.parallel_residual);
  CHECK(pythia.bias);

  GPTConfig big = metaguard::load_gpt_config(metaguard::test::source_path("fixtures/models/llama-2-70b.json"));
  CHECK(big.q_per_kv() == 8);
  CHECK(big.qkv_size() == (64 + 16) * 128);
}

TEST_CASE("model config: absent fields take LitGPT's defaults", "[model][config]") {
  json minimal = {{"n_layer", 1}, {"n_head", 2}, {"n_embd", 32}, {"vocab_size", 600}, {"block_size", 4}};
  GPTConfig c = metaguard::gpt_config_from_json(minimal, "x.json", "x");
  CHECK(c.name == "x");
  CHECK(c.n_query_groups == 2);
  CHECK(c.head_size == 16);
  CHECK(c.padded_vocab_size == 1024);  // next multiple of 512
  CHECK(c.intermediate_size == 128);   // 4 * n_embd for GptNeoxMLP
  CHECK(c.rotary_percentage == 0.25);
  CHECK(c.rope_n_elem() == 4);
  CHECK(c.norm_class == metaguard::NormClass::LayerNorm);
  CHECK(c.mlp_class == metaguard::MlpClass::GptNeoxMLP);
  CHECK(c.parallel_residual);
  CHECK(c.bias);
  CHECK_FALSE(c.tie_embeddings);
}

TEST_CASE("model config: to_json and back gives the same config", "[model][config]") {
  GPTConfig c = metaguard::gpt_config_from_json(micro_json(), "m.json", "m");
  json again = metaguard::gpt_config_to_json(c);
  CHECK(again == micro_json());
  GPTConfig d = metaguard::gpt_config_from_json(again, "again", "again");
  CHECK(metaguard::gpt_config_to_json(d) == again);
}

TEST_CASE("model config: bad fields are input errors naming the field", "[model][config]") {
  auto with = [](const std::string& field, const json& value) {
    json object = micro_json();
    object[field] = value;
    return error_for(object);
  };
  auto without = [](const std::string& field) {
    json object = micro_json();
    object.erase(field);
    return error_for(object);
  };

  std::string unknown = with("n_experts", 8);
  CHECK_THAT(unknown, Catch::Contains("cfg.json") && Catch::Contains("unknown field 'n_experts'"));

  CHECK_THAT(with("n_head", 5), Catch::Contains("'n_query_groups'") && Catch::Contains("not divisible by n_query_groups 2"));
  CHECK_THAT(with("n_query_groups", 3), Catch::Contains("'n_query_groups'") && Catch::Contains("not divisible"));
  CHECK_THAT(with("n_query_groups", 8), Catch::Contains("'n_query_groups'"));
  CHECK_THAT(with("head_size", 0), Catch::Contains("'head_size'") && Catch::Contains("at least 1"));
  CHECK(with("head_size", 8).empty());  // n_head * head_size may differ from n_embd (Gemma, Qwen3)
  CHECK_THAT(with("padded_vocab_size", 100), Catch::Contains("'padded_vocab_size'") && Catch::Contains("vocab_size 256"));
  CHECK_THAT(with("rotary_percentage", 0.2), Catch::Contains("'rotary_percentage'") && Catch::Contains("even"));
  CHECK_THAT(with("rotary_percentage", 0), Catch::Contains("'rotary_percentage'"));
  CHECK_THAT(with("rotary_percentage", 1.5), Catch::Contains("'rotary_percentage'"));
  CHECK_THAT(with("n_layer", 0), Catch::Contains("'n_layer'") && Catch::Contains("at least 1"));
  CHECK_THAT(with("n_layer", -3), Catch::Contains("'n_layer'"));
  CHECK_THAT(with("n_layer", 100000), Catch::Contains("'n_layer'") && Catch::Contains("larger"));
  CHECK_THAT(with("n_embd", 1e12), Catch::Contains("'n_embd'") && Catch::Contains("integer"));
  CHECK_THAT(with("n_embd", json::number_unsigned_t{1} << 40), Catch::Contains("'n_embd'") && Catch::Contains("too large"));
  CHECK_THAT(with("n_layer", "2"), Catch::Contains("'n_layer'") && Catch::Contains("integer"));
  CHECK_THAT(with("n_layer", 2.5), Catch::Contains("'n_layer'"));
  CHECK_THAT(with("bias", 1), Catch::Contains("'bias'") && Catch::Contains("true or false"));
  CHECK_THAT(with("norm_class", "BatchNorm"), Catch::Contains("'norm_class'") && Catch::Contains("BatchNorm"));
  CHECK_THAT(with("mlp_class", "MoE"), Catch::Contains("'mlp_class'") && Catch::Contains("MoE"));
  CHECK_THAT(with("norm_eps", -1), Catch::Contains("'norm_eps'"));
  CHECK_THAT(with("rope_base", 0), Catch::Contains("'rope_base'"));
  CHECK_THAT(with("name", ""), Catch::Contains("'name'"));
  CHECK_THAT(with("name", 3), Catch::Contains("'name'") && Catch::Contains("string"));
  CHECK_THAT(without("n_layer"), Catch::Contains("'n_layer'") && Catch::Contains("required"));
  CHECK_THAT(without("block_size"), Catch::Contains("'block_size'") && Catch::Contains("required"));
  CHECK_THAT(without("intermediate_size"), Catch::Contains("'intermediate_size'") && Catch::Contains("LLaMAMLP"));
  CHECK_THAT(error_for(json::array({1, 2})), Catch::Contains("JSON object"));
  CHECK(with("tie_embeddings", true).empty());
}

TEST_CASE("model config: unreadable, malformed and oversized files are input errors", "[model][config]") {
  ScratchDir dir;
  auto error_loading = [](const fs::path& file) -> std::string {
    try {
      metaguard::load_gpt_config(file);
    } catch (const InputError& error) {
      return error.what();
    }
    return "";
  };
  CHECK_THAT(error_loading(dir.path / "absent.json"), Catch::Contains("absent.json") && Catch::Contains("does not exist"));
  CHECK_THAT(error_loading(dir.write("broken.json", "{\"n_layer\": 2,")),
             Catch::Contains("broken.json") && Catch::Contains("not valid JSON"));
  CHECK_THAT(error_loading(dir.write("big.json", std::string(2 << 20, ' '))),
             Catch::Contains("big.json") && Catch::Contains("too large"));
  CHECK_THAT(error_loading(dir.path), Catch::Contains("directory"));
  fs::path good = dir.write("mine.json", micro_json().dump());
  CHECK(metaguard::load_gpt_config(good).n_embd == 64);
}

TEST_CASE("model config: names resolve through the search path, paths load directly", "[model][config]") {
  ScratchDir dir;
  json custom = micro_json();
  custom.erase("name");
  custom["n_layer"] = 3;
  dir.write("custom-net.json", custom.dump());
  ScopedEnv models("METAGUARD_MODELS_DIR", dir.path.string());

  GPTConfig found = metaguard::resolve_model_config("custom-net");
  CHECK(found.name == "custom-net");  // the file's stem
  CHECK(found.n_layer == 3);

  // Names fall through to the source tree's fixtures when the first directory lacks them.
  ScopedEnv source("METAGUARD_SOURCE_DIR", METAGUARD_SOURCE_DIR);
  CHECK(metaguard::resolve_model_config("llama-2-7b").n_layer == 32);
  auto names = metaguard::known_model_names();
  for (const char* name : {"custom-net", "micro", "pythia-14m", "tinyllama-1.1b", "llama-2-7b", "llama-2-70b"}) {
    CHECK(std::find(names.begin(), names.end(), name) != names.end());
  }

  CHECK(metaguard::resolve_model_config(metaguard::test::source_path("fixtures/models/pythia-14m.json")).n_layer == 6);
  CHECK(metaguard::resolve_model_config((dir.path / "custom-net.json").string()).n_layer == 3);

  std::string message;
  try {
    metaguard::resolve_model_config("gpt-17");
  } catch (const InputError& error) {
    message = error.what();
  }
  CHECK_THAT(message, Catch::Contains("unknown model 'gpt-17'") && Catch::Contains("micro") &&
                          Catch::Contains("custom-net") && Catch::Contains("--model"));
  CHECK_THROWS_AS(metaguard::resolve_model_config("nowhere/absent.json"), InputError);
  CHECK_THROWS_AS(metaguard::resolve_model_config(""), InputError);
}

TEST_CASE("model lora spec: defaults, full specs and canonical form", "[model][lora]") {
  auto lora = metaguard::parse_lora_spec("r=8,alpha=16,dropout=0,targets=query+value");
  REQUIRE(lora);
  CHECK(lora->r == 8);
  CHECK(lora->alpha == 16);
  CHECK(lora->dropout == 0);
  CHECK((lora->query && !lora->key && lora->value && !lora->projection && !lora->mlp && !lora->head));
  CHECK(lora->scaling() == 2.0);

  auto partial = metaguard::parse_lora_spec("r=4");
  REQUIRE(partial);
  CHECK(partial->r == 4);
  CHECK(partial->alpha == 16);
  CHECK((partial->query && partial->value && !partial->key));

  auto all = metaguard::parse_lora_spec("targets=head+mlp+projection+value+key+query,alpha=0.5,dropout=0.05,r=2");
  REQUIRE(all);
  CHECK((all->query && all->key && all->value && all->projection && all->mlp && all->head));
  CHECK(all->alpha == 0.5);
  CHECK(all->dropout == 0.05);
  CHECK(all->to_spec() == "r=2,alpha=0.5,dropout=0.05,targets=query+key+value+projection+mlp+head");
  auto again = metaguard::parse_lora_spec(all->to_spec());
  REQUIRE(again);
  CHECK(again->to_spec() == all->to_spec());

  CHECK_FALSE(metaguard::parse_lora_spec("none").has_value());
}

TEST_CASE("model lora spec: bad keys and values are input errors naming them", "[model][lora]") {
  CHECK_THAT(lora_error_for("rank=8"), Catch::Contains("--lora") && Catch::Contains("unknown key 'rank'"));
  CHECK_THAT(lora_error_for("r=0"), Catch::Contains("r must be between 1"));
  CHECK_THAT(lora_error_for("r=-2"), Catch::Contains("r must be a positive integer"));
  CHECK_THAT(lora_error_for("r=8x"), Catch::Contains("'8x'"));
  CHECK_THAT(lora_error_for("r=99999999999"), Catch::Contains("r must be"));
  CHECK_THAT(lora_error_for("alpha=abc"), Catch::Contains("alpha") && Catch::Contains("'abc'"));
  CHECK_THAT(lora_error_for("alpha=0"), Catch::Contains("alpha must be positive"));
  CHECK_THAT(lora_error_for("alpha=1e999"), Catch::Contains("alpha"));
  CHECK_THAT(lora_error_for("dropout=1"), Catch::Contains("dropout must be in [0, 1)"));
  CHECK_THAT(lora_error_for("dropout=-0.1"), Catch::Contains("dropout"));
  CHECK_THAT(lora_error_for("targets=query+attention"), Catch::Contains("unknown target 'attention'"));
  CHECK_THAT(lora_error_for("targets="), Catch::Contains("targets is empty"));
  CHECK_THAT(lora_error_for("targets=query+query"), Catch::Contains("'query' is listed twice"));
  CHECK_THAT(lora_error_for("r=8,r=4"), Catch::Contains("'r' is given twice"));
  CHECK_THAT(lora_error_for("r8"), Catch::Contains("not key=value"));
  CHECK_THAT(lora_error_for("r=8,"), Catch::Contains("not key=value"));
  CHECK_THAT(lora_error_for(""), Catch::Contains("empty"));
}
