// Both directions against Python's PyTorch itself (test::python_executable(): Debian's
// python3-torch, or the virtual environment's torch 2.x):
// checkpoints torch.save wrote load with the values torch.load reports, and files the
// saver writes are read by torch.load(weights_only=True) as the model's own tensors.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "load/checkpoint_loader.hpp"
#include "load/checkpoint_saver.hpp"
#include "unit/torch/load_test_support.hpp"
#include "walk/dtype_names.hpp"

using namespace metaguard;
namespace test = metaguard::test;
using nlohmann::json;

namespace {

const std::string kMakeModelCheckpoints = "fixtures/checkpoints/models/make_model_checkpoints.py";

// Loads `path` into `model` (built on meta) and checks every persistent tensor against
// what PyTorch's torch.load says the file holds under the tensor's key.
void require_pytorch_values(GPT& model, const std::string& path, KeyMapping mapping) {
  const json pytorch = test::run_torch_python(test::kTorchLoadDump, {path});
  REQUIRE(pytorch["type"] == "OrderedDict");
  TensorStateTracker tracker;
  ModuleWalker walker(*model, &tracker);
  LoadOptions options;
  options.keys = mapping;
  LoadResult result = load_checkpoint(walker, tracker, CheckpointFile::open(path), options);
  CHECK(result.findings.empty());
  size_t compared = 0;
  for (const auto& live : walker.tensors()) {
    if (!is_persistent(live.kind) || is_lora_parameter_name(live.name)) continue;
    const std::string key = mapping == KeyMapping::LoraBase ? to_base_key(live.name) : live.name;
    INFO(live.name << " <- " << key);
    REQUIRE(pytorch["tensors"].contains(key));
    const json& want = pytorch["tensors"][key];
    CHECK(dtype_name(live.tensor.scalar_type()) == want["dtype"]);
    CHECK(live.tensor.sizes().vec() == want["shape"].get<std::vector<int64_t>>());
    CHECK(test::hex(test::tensor_bytes(live.tensor)) == want["hex"]);
    ++compared;
  }
  CHECK(compared == pytorch["tensors"].size());
}

}  // namespace

TEST_CASE("load: a state dict saved by PyTorch loads with PyTorch's values", "[load][python]") {
  const std::string path = test::source_path("fixtures/checkpoints/models/micro.pt");
  SECTION("into a plain GPT") {
    GPT model = test::build_model("micro", "none", torch::kMeta);
    require_pytorch_values(model, path, KeyMapping::Identity);
  }
  SECTION("into a LoRA GPT (base keys mapped)") {
    GPT model = test::build_model("micro", "r=8,alpha=16,targets=query+value+projection+mlp+head", torch::kMeta);
    require_pytorch_values(model, path, KeyMapping::LoraBase);
  }
}

TEST_CASE("load: PyTorch's tied state dict (one storage, two keys) loads as one tensor", "[load][python]") {
  test::TempDir dir;
  const std::string path = dir.file("micro-tied.pt");
  auto run = run_process({test::python_executable(), test::source_path(kMakeModelCheckpoints), "--config", "micro-tied",
                          "--seed", "4", "--out", path},
                         300);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const json pytorch = test::run_torch_python(test::kTorchLoadDump, {path});
  CHECK(pytorch["tensors"]["lm_head.weight"]["group"] == pytorch["tensors"]["transformer.wte.weight"]["group"]);
  GPT model = test::build_model("micro-tied", "none", torch::kMeta);
  require_pytorch_values(model, path, KeyMapping::Identity);
  CHECK(model->lm_head.base().weight.data_ptr() == model->transformer->wte->weight.data_ptr());
}

TEST_CASE("load/save: torch.load(weights_only=True) reads the model's own tensors", "[load][python]") {
  struct Case {
    std::string model, lora;
    bool lora_only;
  };
  for (const Case& c : {Case{"micro", "r=4,alpha=8,targets=query+value+mlp", false}, Case{"micro-tied", "none", false},
                        Case{"micro", "r=4,alpha=8,targets=query+key+value+projection+head", true}}) {
    DYNAMIC_SECTION(c.model << " lora=" << c.lora << (c.lora_only ? " lora-only" : "")) {
      test::TempDir dir;
      GPT model = test::build_model(c.model, c.lora, torch::kCPU, 17);
      model->mark_only_lora_trainable();
      {
        torch::NoGradGuard no_grad;
        for (auto& item : model->lora_state_dict()) item.value().uniform_(-1, 1);
      }
      const std::string path = dir.file("saved.pt");
      SaveOptions options;
      options.lora_only = c.lora_only;
      // The model's own names and rows (tests/litgpt checks LitGPT's current layout).
      options.layout = QkvLayout::Interleaved;
      save_checkpoint(*model, path, options);
      const json pytorch = test::run_torch_python(test::kTorchLoadDump, {path});
      CHECK(pytorch["type"] == "OrderedDict");

      std::set<std::string> expected;
      ModuleWalker walker(*model);
      for (const auto& live : walker.tensors()) {
        if (!is_persistent(live.kind)) continue;
        if (c.lora_only && !is_lora_parameter_name(live.name)) continue;
        expected.insert(live.name);
        INFO(live.name);
        REQUIRE(pytorch["tensors"].contains(live.name));
        const json& got = pytorch["tensors"][live.name];
        CHECK(got["dtype"] == dtype_name(live.tensor.scalar_type()));
        CHECK(got["shape"].get<std::vector<int64_t>>() == live.tensor.sizes().vec());
        CHECK(got["requires_grad"] == false);  // a state dict, as torch.save of state_dict() holds
        CHECK(got["hex"] == test::hex(test::tensor_bytes(live.tensor)));
      }
      std::set<std::string> keys;
      for (const auto& item : pytorch["tensors"].items()) keys.insert(item.key());
      CHECK(keys == expected);
      if (c.lora_only) {
        std::set<std::string> adapters;
        for (const auto& item : model->lora_state_dict()) adapters.insert(item.key());
        CHECK(keys == adapters);
        for (const auto& key : keys) {
          CHECK((key.find(".lora_A") != std::string::npos || key.find(".lora_B") != std::string::npos));
        }
      }
      if (c.model == "micro-tied") {
        // Saved once, as torch.save does: PyTorch loads one storage under both keys.
        CHECK(pytorch["tensors"]["lm_head.weight"]["group"] == pytorch["tensors"]["transformer.wte.weight"]["group"]);
      }
    }
  }
}
