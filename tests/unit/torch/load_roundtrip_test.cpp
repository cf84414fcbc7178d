// Save a live model, load it into the same model built on meta: bit-identical values, the
// same TensorImpls (module members, aliases and optimizers keep seeing them), tied weights
// one storage, and what the tracker and the ledger learn.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "core/errors.hpp"
#include "load/checkpoint_loader.hpp"
#include "load/checkpoint_saver.hpp"
#include "load/qkv_layout.hpp"
#include "repair/materializer.hpp"
#include "unit/torch/load_test_support.hpp"
#include "unit/torch/model_test_support.hpp"

using namespace metaguard;
namespace test = metaguard::test;

namespace {

// Every parameter and persistent buffer of `loaded` equals `original`'s bit for bit.
void require_same_values(torch::nn::Module& original, torch::nn::Module& loaded, bool include_lora = true) {
  auto want = test::named_tensors(original);
  ModuleWalker walker(loaded);
  for (const auto& live : walker.tensors()) {
    const std::string& name = live.name;
    const torch::Tensor& tensor = live.tensor;
    if (!include_lora && is_lora_parameter_name(name)) continue;
    if (live.kind == TensorKind::NonpersistentBuffer) continue;
    INFO(name);
    REQUIRE(want.count(name) == 1);
    REQUIRE_FALSE(tensor.is_meta());
    CHECK(tensor.scalar_type() == want[name].scalar_type());
    CHECK(tensor.sizes() == want[name].sizes());
    CHECK(test::tensor_bytes(tensor) == test::tensor_bytes(want[name]));
  }
}

void materialize_derived(ModuleWalker& walker, TensorStateTracker& tracker) {
  MaterializeOptions options;
  options.select = [](const LiveTensor& live) { return live.derived(); };
  materialize(walker, tracker, options);
}

std::map<std::string, const c10::TensorImpl*> impls(torch::nn::Module& module) {
  std::map<std::string, const c10::TensorImpl*> out;
  for (const auto& [name, tensor] : test::named_tensors(module)) out[name] = tensor.unsafeGetTensorImpl();
  return out;
}

}  // namespace

TEST_CASE("load: a saved model loads bit-identically into its meta-built twin, in place", "[load]") {
  struct Case {
    std::string model, lora;
  };
  for (const Case& c : {Case{"micro", "none"}, Case{"micro-tied", "none"}, Case{"micro", "r=4,alpha=8,targets=query+value+mlp"}}) {
    DYNAMIC_SECTION(c.model << " lora=" << c.lora) {
      test::TempDir dir;
      GPT original = test::build_model(c.model, c.lora, torch::kCPU, 42);
      // Adapters start at zero (lora_B); give them values so that loading them is visible.
      {
        torch::NoGradGuard no_grad;
        for (auto& item : original->named_parameters()) {
          if (is_lora_parameter_name(item.key())) item.value().normal_(0, 0.1);
        }
      }
      const std::string path = dir.file("model.pt");
      save_checkpoint(*original, path);

      GPT model = test::build_model(c.model, c.lora, torch::kMeta);
      if (original->lora()) model->mark_only_lora_trainable();
      auto before = impls(*model);
      TensorStateTracker tracker;
      ModuleWalker walker(*model, &tracker);
      Ledger ledger;
      ledger.record("init", walker.snapshot());
      LoadOptions options;
      options.rank = 0;
      LoadResult result = load_checkpoint(walker, tracker, CheckpointFile::open(path), options, &ledger);
      ledger.record("load", walker.snapshot());
      CHECK(result.findings.empty());

      require_same_values(*original, *model);
      CHECK(impls(*model) == before);  // same TensorImpl under every name
      int64_t persistent_bytes = 0;
      std::set<const c10::TensorImpl*> counted;
      for (const auto& live : walker.tensors()) {
        INFO(live.name);
        if (live.kind == TensorKind::NonpersistentBuffer) {
          CHECK(live.tensor.is_meta());  // never in a checkpoint: recomputed, not loaded
          CHECK(std::find(result.loaded.begin(), result.loaded.end(), live.name) == result.loaded.end());
          continue;
        }
        CHECK(live.tensor.requires_grad() == (original->lora() ? is_lora_parameter_name(live.name) : true));
        CHECK_FALSE(tracker.is_unwritten(live.tensor));
        CHECK(tracker.state_of(live.tensor)->written_by == LedgerEvent::Loaded);
        CHECK(std::find(result.loaded.begin(), result.loaded.end(), live.name) != result.loaded.end());
        bool loaded_event = false;
        for (const auto& event : ledger.history(live.name)) loaded_event |= event.event == "loaded" && event.phase == "load";
        CHECK(loaded_event);
        if (counted.insert(live.tensor.unsafeGetTensorImpl()).second) persistent_bytes += live.tensor.nbytes();
      }
      CHECK(result.bytes_read == static_cast<uint64_t>(persistent_bytes));

      // The loaded model computes what the original computes.
      materialize_derived(walker, tracker);
      torch::NoGradGuard no_grad;
      torch::Tensor tokens = test::random_tokens(2, 8, 256, 3);
      CHECK(torch::equal(model->forward(tokens), original->forward(tokens)));
    }
  }
}

TEST_CASE("load: tied weights are one storage in the file and one tensor after loading", "[load]") {
  test::TempDir dir;
  GPT original = test::build_model("micro-tied", "none", torch::kCPU, 7);
  const std::string path = dir.file("tied.pt");
  save_checkpoint(*original, path);
  CheckpointFile file = CheckpointFile::open(path);
  CHECK(file.storages().size() + 1 == file.tensors().size());  // lm_head.weight views wte's storage

  GPT model = test::build_model("micro-tied", "none", torch::kMeta);
  TensorStateTracker tracker;
  ModuleWalker walker(*model, &tracker);
  LoadResult result = load_checkpoint(walker, tracker, file);
  CHECK(result.findings.empty());
  torch::Tensor head = walker.find("lm_head.weight")->tensor;
  torch::Tensor embedding = walker.find("transformer.wte.weight")->tensor;
  CHECK(head.unsafeGetTensorImpl() == embedding.unsafeGetTensorImpl());
  CHECK(head.data_ptr() == embedding.data_ptr());
  CHECK(test::tensor_bytes(embedding) == test::tensor_bytes(original->transformer->wte->weight));
  // Read once: the embedding's bytes count once.
  int64_t unique_bytes = 0;
  for (const auto& storage : file.storages()) unique_bytes += storage.nbytes;
  CHECK(result.bytes_read == static_cast<uint64_t>(unique_bytes));
}

TEST_CASE("load: an optimizer built on the meta model sees the loaded values", "[load]") {
  test::TempDir dir;
  GPT original = test::build_model("micro", "none", torch::kCPU, 11);
  const std::string path = dir.file("model.pt");
  save_checkpoint(*original, path);
  GPT model = test::build_model("micro", "none", torch::kMeta);
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.1));
  TensorStateTracker tracker;
  ModuleWalker walker(*model, &tracker);
  load_checkpoint(walker, tracker, CheckpointFile::open(path));
  const auto& held = optimizer.param_groups()[0].params();
  const auto params = original->parameters();
  REQUIRE(held.size() == params.size());
  for (size_t i = 0; i < held.size(); ++i) {
    CHECK_FALSE(held[i].is_meta());
    CHECK(torch::equal(held[i], params[i]));
  }
}

TEST_CASE("load: into a model that has storage, values are written into that storage", "[load]") {
  test::TempDir dir;
  GPT original = test::build_model("micro", "none", torch::kCPU, 5);
  const std::string path = dir.file("model.pt");
  save_checkpoint(*original, path);
  GPT model = test::build_model("micro", "none", torch::kCPU, 6);  // other values
  std::map<std::string, void*> pointers;
  for (const auto& [name, tensor] : test::named_tensors(*model)) pointers[name] = tensor.data_ptr();
  auto before = impls(*model);
  TensorStateTracker tracker;
  ModuleWalker walker(*model, &tracker);
  LoadResult result = load_checkpoint(walker, tracker, CheckpointFile::open(path));
  CHECK(result.findings.empty());
  require_same_values(*original, *model);
  CHECK(impls(*model) == before);
  for (const auto& [name, tensor] : test::named_tensors(*model)) {
    INFO(name);
    CHECK(tensor.data_ptr() == pointers[name]);
  }
}

TEST_CASE("load: several threads give the same result as one", "[load]") {
  test::TempDir dir;
  GPT original = test::build_model("micro", "r=4,alpha=8,targets=query+key+value+projection+mlp+head", torch::kCPU, 9);
  const std::string path = dir.file("model.pt");
  save_checkpoint(*original, path);
  CheckpointFile file = CheckpointFile::open(path);
  for (int threads : {1, 2, 5}) {
    GPT model = test::build_model("micro", "r=4,alpha=8,targets=query+key+value+projection+mlp+head", torch::kMeta);
    TensorStateTracker tracker;
    ModuleWalker walker(*model, &tracker);
    LoadOptions options;
    options.threads = threads;
    CHECK(load_checkpoint(walker, tracker, file, options).findings.empty());
    require_same_values(*original, *model);
  }
}

TEST_CASE("load: a base checkpoint loads into a LoRA model (x.linear.weight from x.weight)", "[load][lora]") {
  test::TempDir dir;
  GPT base = test::build_model("micro", "none", torch::kCPU, 21);
  const std::string path = dir.file("base.pt");
  save_checkpoint(*base, path);
  CheckpointFile file = CheckpointFile::open(path);
  const std::string spec = "r=4,alpha=8,targets=query+value+head";

  SECTION("mapped: every base weight loaded, adapters not expected, nothing unexpected") {
    GPT model = test::build_model("micro", spec, torch::kMeta);
    TensorStateTracker tracker;
    ModuleWalker walker(*model, &tracker);
    LoadOptions options;
    options.keys = KeyMapping::LoraBase;
    LoadResult result = load_checkpoint(walker, tracker, file, options);
    CHECK(result.findings.empty());
    auto base_tensors = test::named_tensors(*base);
    int adapters = 0;
    for (const auto& live : walker.tensors()) {
      INFO(live.name);
      if (!is_persistent(live.kind)) continue;
      if (is_lora_parameter_name(live.name)) {
        ++adapters;
        CHECK(live.tensor.is_meta());  // the init step's business, not the loader's
        continue;
      }
      REQUIRE(base_tensors.count(to_base_key(live.name)) == 1);
      CHECK(test::tensor_bytes(live.tensor) == test::tensor_bytes(base_tensors[to_base_key(live.name)]));
    }
    CHECK(adapters > 0);
  }
  SECTION("identity mapping: every wrapped weight missing, every base key unexpected") {
    GPT model = test::build_model("micro", spec, torch::kMeta);
    TensorStateTracker tracker;
    ModuleWalker walker(*model, &tracker);
    LoadResult result = load_checkpoint(walker, tracker, file);
    std::set<std::string> missing, unexpected;
    for (const auto& f : result.findings) {
      if (f.code == "missing-key") missing.insert(*f.tensor);
      if (f.code == "unexpected-key") unexpected.insert(*f.tensor);
    }
    CHECK(missing.count("transformer.h.0.attn.attn.linear.weight") == 1);
    CHECK(missing.count("transformer.h.0.attn.attn.lora_A") == 1);  // not a base mapping: expected
    // Saved in LitGPT's current layout: the fused projection is `attn.qkv`.
    CHECK(unexpected.count("transformer.h.0.attn.qkv.weight") == 1);
    CHECK(missing.count("transformer.wte.weight") == 0);
    CHECK(walker.find("transformer.h.0.attn.attn.linear.weight")->tensor.is_meta());
  }
}

TEST_CASE("load/save: LoRA-only holds exactly the adapters, and loads back into a LoRA model", "[load][lora]") {
  test::TempDir dir;
  const std::string spec = "r=4,alpha=8,targets=query+value+mlp";
  GPT original = test::build_model("micro", spec, torch::kCPU, 31);
  {
    torch::NoGradGuard no_grad;
    for (auto& item : original->lora_state_dict()) item.value().uniform_(-1, 1);
  }
  const std::string path = dir.file("lora.pt");
  SaveOptions save;
  save.lora_only = true;
  save_checkpoint(*original, path, save);
  CheckpointFile file = CheckpointFile::open(path);
  std::set<std::string> keys;
  for (const auto& t : file.tensors()) keys.insert(t.name);
  std::set<std::string> adapters;  // as LitGPT 0.5 names them: the fused projection is `attn.qkv`
  for (const auto& item : original->lora_state_dict()) adapters.insert(grouped_key(item.key()));
  CHECK(keys == adapters);

  // Base weights from elsewhere (here: the same seed), adapters from the LoRA file.
  GPT model = test::build_model("micro", spec, torch::kCPU, 31);
  TensorStateTracker tracker;
  ModuleWalker walker(*model, &tracker);
  LoadOptions options;
  options.select = [](const LiveTensor& live) { return is_lora_parameter_name(live.name); };
  LoadResult result = load_checkpoint(walker, tracker, file, options);
  CHECK(result.findings.empty());
  CHECK(result.loaded.size() == adapters.size());
  require_same_values(*original, *model);
}

TEST_CASE("load/save: refuses a meta tensor, naming the file and the tensor, and the previous file stays", "[load]") {
  test::TempDir dir;
  const std::string path = dir.file("model.pt");
  GPT good = test::build_model("micro", "none", torch::kCPU, 1);
  save_checkpoint(*good, path);
  const std::string before = test::read_binary(path);
  GPT meta = test::build_model("micro", "none", torch::kMeta);
  try {
    save_checkpoint(*meta, path);
    FAIL("saving a meta model must throw");
  } catch (const InputError& error) {
    std::string message = error.what();
    CHECK(message.find(path) != std::string::npos);
    CHECK(message.find("lm_head.weight") != std::string::npos);
    CHECK(message.find("meta") != std::string::npos);
  }
  CHECK(test::read_binary(path) == before);
  CHECK_THROWS_AS(save_checkpoint(*good, dir.file("no/such/folder/model.pt")), InputError);
  CHECK(dir.names() == std::vector<std::string>{"model.pt"});  // no temporary file left behind
}
