#pragma once
// Helpers shared by the loader's tests (tests/unit/torch/load_*.cpp). Not a test file itself.
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/subprocess.hpp"
#include "model/gpt.hpp"
#include "model/gpt_config.hpp"
#include "model/model_catalog.hpp"
#include "model/lora_config.hpp"
#include "support/paths.hpp"
#include "unit/base/checkpoint_test_support.hpp"

namespace metaguard::test {

inline GPTConfig model_config(const std::string& name) {
  return resolve_model_config(source_path("fixtures/models/" + name + ".json"));
}

inline std::optional<LoRAConfig> lora_spec(const std::string& spec) { return parse_lora_spec(spec); }

inline GPT build_model(const std::string& name, const std::string& lora, torch::Device device, uint64_t seed = 0,
                       torch::Dtype dtype = torch::kFloat32) {
  BuildOptions build;
  build.device = device;
  build.seed = seed;
  build.dtype = dtype;
  return build_gpt(model_config(name), lora_spec(lora), build);
}

// A tensor's values in row-major order as raw bytes (whatever its strides).
inline std::string tensor_bytes(const torch::Tensor& tensor) {
  torch::Tensor flat = tensor.detach().to(torch::kCPU).contiguous();
  return std::string(static_cast<const char*>(flat.data_ptr()), static_cast<size_t>(flat.numel() * flat.element_size()));
}

// Parameters and buffers by name (ties appear under both names).
inline std::map<std::string, torch::Tensor> named_tensors(torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : module.named_parameters()) out[item.key()] = item.value();
  for (const auto& item : module.named_buffers()) out[item.key()] = item.value();
  return out;
}

// Runs a Python script with PyTorch's own python3 (python3-torch); its stdout is JSON.
inline nlohmann::json run_torch_python(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv{python_executable(), "-c", script};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult run = run_process(argv, 300);
  if (run.exit_code != 0) throw std::runtime_error("python3 failed: " + run.err);
  return nlohmann::json::parse(run.out);
}

// What PyTorch's torch.load(weights_only=True) sees in a file: per key, dtype, shape, the
// values' bytes (row-major, hex) and which keys share one storage.
inline const char* const kTorchLoadDump = R"PY(
import json, sys, torch
state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
groups, out = {}, {}
for name, t in state.items():
    flat = t.detach().contiguous().reshape(-1)
    if flat.dtype in (torch.bfloat16, torch.bool):
        flat = flat.view(torch.int16 if flat.dtype == torch.bfloat16 else torch.uint8)
    out[name] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                 "group": groups.setdefault(t.storage().data_ptr(), len(groups)),
                 "requires_grad": t.requires_grad, "hex": flat.numpy().tobytes().hex()}
print(json.dumps({"type": type(state).__name__, "tensors": out}))
)PY";

}  // namespace metaguard::test
