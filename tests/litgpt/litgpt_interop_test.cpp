// metaguard's model against LitGPT 0.5.13 itself. tests/litgpt/litgpt_reference.py (run with
// METAGUARD_PYTHON, which has litgpt installed) builds LitGPT's lora.GPT for a shrunk config
// of every model family and every LoRA target set, saves it in LitGPT's current layout (and
// the legacy one), and records LitGPT's logits, merged logits, base-model logits and loss
// on fixed tokens. This test loads those files into metaguard's model and compares; then it
// changes the adapters, saves them (and the merged model) in metaguard's way and has LitGPT
// load them strictly and reproduce metaguard's logits. Expected values all come from LitGPT.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "load/checkpoint_loader.hpp"
#include "load/checkpoint_saver.hpp"
#include "model/gpt.hpp"
#include "model/model_catalog.hpp"
#include "support/paths.hpp"
#include "support/run_process.hpp"
#include "support/scratch_dir.hpp"
#include "walk/module_walker.hpp"
#include "walk/tensor_state_tracker.hpp"

namespace {

namespace fs = std::filesystem;
namespace test = metaguard::test;
using nlohmann::json;
using namespace metaguard;

// LitGPT computes in float32 like metaguard, in another order of operations.
constexpr double kTolerance = 1e-5;

const std::string kScript = std::string(METAGUARD_SOURCE_DIR) + "/tests/litgpt/litgpt_reference.py";
const std::string kPython = METAGUARD_LITGPT_PYTHON;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

torch::Tensor read_raw(const std::string& path, const json& shape, torch::Dtype dtype) {
  std::string bytes = read_bytes(path);
  std::vector<int64_t> sizes = shape.get<std::vector<int64_t>>();
  torch::Tensor out = torch::empty(sizes, torch::TensorOptions().dtype(dtype));
  REQUIRE(static_cast<size_t>(out.nbytes()) == bytes.size());
  std::memcpy(out.data_ptr(), bytes.data(), bytes.size());
  return out;
}

void write_raw(const std::string& path, const torch::Tensor& tensor) {
  torch::Tensor data = tensor.contiguous().to(torch::kFloat32);
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data.data_ptr()), static_cast<std::streamsize>(data.nbytes()));
}

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// The case's LoRA settings in LitGPT's names, through the --lora parser.
std::optional<LoRAConfig> case_lora(const json& lora) {
  if (lora.value("lora_r", 0) <= 0) return std::nullopt;
  std::string spec = fmt::format("lora_r={},lora_alpha={},lora_dropout={}", lora["lora_r"].get<int64_t>(),
                                 lora["lora_alpha"].get<double>(), lora.value("lora_dropout", 0.0));
  for (const char* target : {"lora_query", "lora_key", "lora_value", "lora_projection", "lora_mlp", "lora_head"}) {
    spec += fmt::format(",{}={}", target, lora.value(target, false) ? "true" : "false");
  }
  return parse_lora_spec(spec);
}

struct Loaded {
  GPT model{nullptr};
  LoadResult result;
};

Loaded load_into(const GPTConfig& config, const std::optional<LoRAConfig>& lora, const std::string& file,
                 KeyMapping keys = KeyMapping::Identity) {
  Loaded loaded;
  loaded.model = build_gpt(config, lora, BuildOptions{torch::kCPU, torch::kFloat32, 7});
  TensorStateTracker tracker;
  ModuleWalker walker(*loaded.model, &tracker);
  LoadOptions options;
  options.keys = keys;
  loaded.result = load_checkpoint(walker, tracker, CheckpointFile::open(file), options);
  loaded.model->eval();
  return loaded;
}

std::string finding_list(const LoadResult& result) {
  std::string text;
  for (const auto& finding : result.findings) text += finding.code + " " + finding.tensor.value_or("") + "; ";
  return text;
}

// LitGPT's next-token loss: mean cross-entropy of logits[:, :-1] against tokens[:, 1:].
double next_token_loss(const torch::Tensor& logits, const torch::Tensor& tokens) {
  const int64_t steps = tokens.size(1) - 1;
  torch::Tensor scores = logits.narrow(1, 0, steps).reshape({-1, logits.size(-1)});
  torch::Tensor targets = tokens.narrow(1, 1, steps).reshape({-1});
  return torch::nn::functional::cross_entropy(scores, targets).item<double>();
}

struct Row {
  std::string name, family, targets;
  double logits = 0, merged = 0, base = 0, saved = 0;
};

std::string targets_of(const json& lora) {
  std::string text;
  for (const char* target : {"query", "key", "value", "projection", "mlp", "head"}) {
    if (lora.value(std::string("lora_") + target, false)) text += (text.empty() ? "" : "+") + std::string(target);
  }
  return text.empty() ? "none" : text;
}

}  // namespace

TEST_CASE("litgpt: LitGPT 0.5.13's own checkpoints load into metaguard's model and give LitGPT's logits, and "
          "metaguard's saves load strictly into LitGPT",
          "[litgpt][interop]") {
  test::ScratchDir dir;
  auto made = test::run_process({kPython, kScript, "make", dir.path()}, 600);
  INFO(made.err);
  REQUIRE(made.exit_code == 0);

  std::vector<Row> rows;
  json save_checks = json::array();  // LitGPT checks all saves in one process at the end
  std::vector<fs::path> cases;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (fs::is_regular_file(entry.path() / "meta.json")) cases.push_back(entry.path());
  }
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() >= 20);

  for (const auto& case_dir : cases) {
    const json meta = json::parse(read_bytes((case_dir / "meta.json").string()));
    const std::string name = meta["case"].get<std::string>();
    // One pass per case (not a Catch section: that would rerun LitGPT for each); an
    // exception fails this case and the others still run.
    auto one_case = [&] {
      INFO("case " << name << " (LitGPT config " << meta.value("litgpt_name", "?") << ")");
      // The checkpoint directory as a user gives it: model_config.yaml and lit_model.pth.
      ModelSource source = resolve_model(case_dir.string());
      CHECK(source.checkpoint == (case_dir / "lit_model.pth").string());
      const GPTConfig& config = source.config;
      const std::optional<LoRAConfig> lora = case_lora(meta["lora"]);
      const torch::Tensor tokens = read_raw((case_dir / "tokens.bin").string(), meta["tokens_shape"], torch::kInt64);
      auto expected = [&](const char* file) {
        return read_raw((case_dir / file).string(), meta["logits_shape"], torch::kFloat32);
      };
      torch::NoGradGuard no_grad;
      Row row{name, meta.value("litgpt_name", ""), targets_of(meta["lora"])};

      // Today's layout (attn.qkv), every key used, nothing missing.
      Loaded current = load_into(config, lora, source.checkpoint);
      INFO("findings: " << finding_list(current.result));
      CHECK(current.result.findings.empty());
      if (!current.result.findings.empty()) return;
      torch::Tensor logits = current.model->forward(tokens);
      row.logits = max_difference(logits, expected("logits.bin"));
      CHECK(row.logits <= kTolerance);
      CHECK(std::abs(next_token_loss(logits, tokens) - meta["loss"].get<double>()) <= kTolerance);

      // The legacy layout (attn.attn, interleaved rows) gives the very same tensors.
      Loaded legacy = load_into(config, lora, (case_dir / "lit_model_legacy.pth").string());
      CHECK(legacy.result.findings.empty());
      auto current_params = current.model->named_parameters();
      for (const auto& item : legacy.model->named_parameters()) {
        INFO(item.key());
        CHECK(torch::equal(item.value(), current_params[item.key()]));
      }

      // Merged in metaguard, against merged in LitGPT.
      if (lora) {
        current.model->merge_lora();
        row.merged = max_difference(current.model->forward(tokens), expected("merged_logits.bin"));
        CHECK(row.merged <= kTolerance);
        current.model->unmerge_lora();
      }

      // A base (non-LoRA) LitGPT checkpoint into the LoRA model, as LitGPT's fine-tuning
      // starts: adapters initialized (lora_B zero), so the base model's logits.
      Loaded base = load_into(config, lora, (case_dir / "base_model.pth").string(), KeyMapping::LoraBase);
      INFO("base findings: " << finding_list(base.result));
      CHECK(base.result.findings.empty());
      row.base = max_difference(base.model->forward(tokens), expected("base_logits.bin"));
      CHECK(row.base <= kTolerance);

      // metaguard's saves, with adapters LitGPT has never seen, loaded strictly by LitGPT.
      if (lora) {
        for (auto& item : current.model->named_parameters()) {
          if (is_lora_parameter_name(item.key())) item.value().mul_(-1.5).add_(0.01);
        }
        write_raw(dir.file(name + ".expected.bin"), current.model->forward(tokens));
        SaveOptions adapters;
        adapters.lora_only = true;
        save_checkpoint(*current.model, dir.file(name + ".lit_model.pth.lora"), adapters);
        current.model->merge_lora();
        SaveOptions merged;
        merged.base_model_keys = true;
        save_checkpoint(*current.model, dir.file(name + ".merged.pth"), merged);
        save_checks.push_back({{"case_dir", case_dir.string()},
                               {"lora", dir.file(name + ".lit_model.pth.lora")},
                               {"merged", dir.file(name + ".merged.pth")},
                               {"expect_logits", dir.file(name + ".expected.bin")}});
      }
      rows.push_back(row);
    };
    try {
      one_case();
    } catch (const std::exception& error) {
      FAIL_CHECK("case " << name << ": " << error.what());
    }
  }

  // LitGPT loads every save strictly and reproduces metaguard's logits: one JSON line per
  // job, in order, then a summary line.
  std::ofstream(dir.file("save-checks.json")) << save_checks.dump();
  auto checked = test::run_process({kPython, kScript, "check-saves", dir.file("save-checks.json")}, 600);
  CHECK(checked.exit_code == 0);
  if (checked.exit_code != 0) WARN(checked.err);
  std::istringstream lines(checked.out);
  std::map<std::string, double> saved;
  size_t results = 0;
  for (std::string line; std::getline(lines, line);) {
    json result = json::parse(line, nullptr, false);
    if (!result.is_object() || !result.contains("case_dir")) continue;
    ++results;
    INFO(line);
    CHECK(result.value("ok", false));
    if (result.contains("max_abs_diff")) saved[result["case_dir"].get<std::string>()] = result["max_abs_diff"].get<double>();
  }
  CHECK(results == save_checks.size());  // every save was checked
  for (auto& row : rows) {
    auto it = saved.find((fs::path(dir.path()) / row.name).string());
    if (it != saved.end()) row.saved = it->second;
  }

  // The table docs/MODEL.md quotes (written beside the build, looked at by a person).
  std::ostringstream table;
  table << "| case | LitGPT config | LoRA targets | logits | merged | base | LitGPT on metaguard's save |\n"
        << "| --- | --- | --- | --- | --- | --- | --- |\n";
  for (const auto& row : rows) {
    table << fmt::format("| {} | {} | {} | {:.1e} | {:.1e} | {:.1e} | {:.1e} |\n", row.name, row.family, row.targets,
                         row.logits, row.merged, row.base, row.saved);
  }
  std::ofstream(std::string(METAGUARD_BUILD_DIR) + "/litgpt-interop.md") << table.str();
}

TEST_CASE("litgpt: a training run's final directory is what LitGPT's fine-tuning leaves, and LitGPT loads it strictly",
          "[litgpt][interop][train]") {
  test::ScratchDir dir;
  const std::string out = dir.file("run");
  auto trained = test::run_process({test::build_path("metaguard-torch"), "train", "--steps", "2", "--nproc", "2",
                                    "--lora", "lora_r=4,lora_alpha=8,lora_key=true,lora_mlp=true,lora_head=true",
                                    "--out", out},
                                   300);
  INFO(trained.out << trained.err);
  REQUIRE(trained.exit_code == 0);
  // LitGPT reads model_config.yaml with its own Config, loads the merged model into its GPT
  // strictly, and finds exactly its lora.GPT's adapters (same shapes) in lit_model.pth.lora.
  const char* check = R"PY(
import sys, torch
from litgpt.config import Config
from litgpt.model import GPT
import litgpt.lora as lora
final = sys.argv[1]
config = Config.from_file(final + "/model_config.yaml")
assert type(config.norm_eps) is float and type(config.name) is str, (config.norm_eps, config.name)
merged = GPT(config)
merged.load_state_dict(torch.load(final + "/lit_model.pth", weights_only=True), strict=True)
logits = merged(torch.randint(0, config.vocab_size, (1, 8)))  # the values work, not only the keys
assert torch.isfinite(logits).all()
lora_config = lora.Config.from_file(final + "/model_config.yaml", lora_r=4, lora_alpha=8, lora_query=True,
                                    lora_key=True, lora_value=True, lora_mlp=True, lora_head=True)
want = {k: v.shape for k, v in lora.GPT(lora_config).state_dict().items() if "lora_" in k}
got = {k: v.shape for k, v in torch.load(final + "/lit_model.pth.lora", weights_only=True).items()}
assert got == want, (sorted(set(got) ^ set(want)), [k for k in got if k in want and got[k] != want[k]])
print("ok", len(got))
)PY";
  auto checked = test::run_process({kPython, "-c", check, out + "/final"}, 300);
  INFO(checked.out << checked.err);
  CHECK(checked.exit_code == 0);
  CHECK_THAT(checked.out, Catch::StartsWith("ok"));
}
