// The loader on hand-written checkpoints (the torch-free writer, PyTorch's own fixture
// files): each finding code, strided views and shared storages, CRC-32 failures, dry runs,
// and a property over random layouts. Expected values come from the bytes handed to the
// writer or from PyTorch's sidecars, never from the loader.
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>

#include <catch2/catch.hpp>
#include <rapidcheck/catch.h>
#include <torch/torch.h>

#include "checkpoint/checkpoint_writer.hpp"
#include "core/errors.hpp"
#include "load/checkpoint_loader.hpp"
#include "unit/torch/load_test_support.hpp"
#include "walk/dtype_names.hpp"

using namespace metaguard;
namespace test = metaguard::test;
using V = std::vector<int64_t>;

namespace {

// Two parameters, a persistent buffer and a derived (non-persistent) one.
struct Small : torch::nn::Module, TensorDeclarations {
  explicit Small(torch::Device device) {
    auto options = torch::TensorOptions().device(device);
    a = register_parameter("a", torch::empty({2, 3}, options));
    b = register_parameter("b", torch::empty({4}, options));
    running = register_buffer("running", torch::empty({3}, options));
    index = register_buffer("index", torch::empty({3}, options.dtype(torch::kInt64)));
    declare_derived("index", [](const torch::Device& d) {
      return torch::arange(3, torch::TensorOptions().dtype(torch::kInt64).device(d));
    });
  }
  torch::Tensor a, b, running, index;
};

std::string float_bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

std::vector<float> iota(int n, float start = 0) {
  std::vector<float> out;
  for (int i = 0; i < n; ++i) out.push_back(start + static_cast<float>(i));
  return out;
}

// One storage per tensor, contiguous: the common state dict.
struct PlainCheckpoint {
  std::vector<std::string> bytes;
  std::vector<WriteStorage> storages;
  std::vector<WriteTensor> tensors;

  PlainCheckpoint() { bytes.reserve(16); }
  void add(const std::string& name, const std::string& dtype, V shape, std::string data) {
    bytes.push_back(std::move(data));
    storages.push_back({dtype, bytes.back()});
    tensors.push_back(whole_storage_tensor(name, dtype, std::move(shape), storages.size() - 1));
  }
  void add_meta(const std::string& name, V shape, V stride) {
    tensors.push_back({name, "float32", std::move(shape), std::move(stride), 0, std::nullopt});
  }
  void write(const std::string& path) const { write_torch_checkpoint(path, storages, tensors); }
};

std::string half_bytes(const std::vector<float>& values) {
  torch::Tensor half = torch::tensor(values).to(torch::kFloat16);
  return test::tensor_bytes(half);
}

std::set<std::pair<std::string, std::string>> codes(const std::vector<Finding>& findings) {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& f : findings) out.emplace(f.code, f.tensor.value_or(""));
  return out;
}

void flip_byte(const std::string& path, uint64_t offset) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  file.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  file.seekp(static_cast<std::streamoff>(offset));
  file.write(&c, 1);
}

// Small's parameters a and b and its persistent buffer running, right shapes, float32.
void write_full_checkpoint(const std::string& path) {
  PlainCheckpoint checkpoint;
  checkpoint.add("a", "float32", {2, 3}, float_bytes(iota(6)));
  checkpoint.add("b", "float32", {4}, float_bytes(iota(4)));
  checkpoint.add("running", "float32", {3}, float_bytes(iota(3)));
  checkpoint.write(path);
}

}  // namespace

TEST_CASE("load findings: missing, unexpected, shape and dtype, with rank and phase", "[load]") {
  test::TempDir dir;
  const std::string path = dir.file("mixed.pt");
  PlainCheckpoint checkpoint;
  const std::vector<float> a_values = {0.5f, -1.25f, 3.0f, 1e-3f, 65504.0f, -0.1f};
  checkpoint.add("a", "float16", {2, 3}, half_bytes(a_values));    // dtype-mismatch: converted
  checkpoint.add("running", "float32", {4}, float_bytes(iota(4)));  // shape-mismatch
  checkpoint.add("extra", "float32", {2}, float_bytes(iota(2)));    // unexpected-key
  checkpoint.add("index", "int64", {3}, std::string(24, '\0'));    // derived: never loaded
  checkpoint.write(path);                                            // "b": missing-key
  CheckpointFile file = CheckpointFile::open(path);
  LoadOptions options;
  options.rank = 3;

  Small small(torch::kMeta);
  TensorStateTracker tracker;
  ModuleWalker walker(small, &tracker);
  LoadResult result = load_checkpoint(walker, tracker, file, options);
  const std::set<std::pair<std::string, std::string>> expected = {
      {"dtype-mismatch", "a"}, {"missing-key", "b"}, {"shape-mismatch", "running"},
      {"unexpected-key", "extra"}, {"unexpected-key", "index"}};
  CHECK(codes(result.findings) == expected);
  for (const auto& f : result.findings) {
    INFO(f.code << ": " << f.message);
    CHECK(f.rank == 3);
    CHECK(f.phase == "load");
    CHECK(f.message.find(path) != std::string::npos);
    CHECK_FALSE(f.hint.empty());
    const bool error = f.code == "missing-key" || f.code == "shape-mismatch";
    CHECK(f.severity == (error ? Severity::Error : Severity::Warning));
  }
  // Converted as PyTorch converts float16 to float32.
  REQUIRE_FALSE(small.a.is_meta());
  CHECK(small.a.scalar_type() == torch::kFloat32);
  CHECK(torch::equal(small.a, torch::tensor(a_values).to(torch::kFloat16).to(torch::kFloat32).reshape({2, 3})));
  CHECK(small.b.is_meta());
  CHECK(small.running.is_meta());
  CHECK(small.index.is_meta());
  CHECK(result.loaded == std::vector<std::string>{"a"});

  SECTION("a dry run reads nothing, allocates nothing, and finds the same") {
    Small dry(torch::kMeta);
    TensorStateTracker dry_tracker(/*dry_run=*/true);
    ModuleWalker dry_walker(dry, &dry_tracker);
    LoadResult dry_result = load_checkpoint(dry_walker, dry_tracker, file, options);
    REQUIRE(dry_result.findings.size() == result.findings.size());
    for (size_t i = 0; i < result.findings.size(); ++i) CHECK(dry_result.findings[i] == result.findings[i]);
    CHECK(dry_result.bytes_read == 0);
    CHECK(dry_result.loaded == result.loaded);
    CHECK(dry.a.is_meta());
    auto state = dry_tracker.state_of(dry.a);
    REQUIRE(state);
    CHECK(state->written);
    CHECK(state->written_by == LedgerEvent::Loaded);
    CHECK(state->device == "cpu");
    CHECK(state->content_key != 0);
    CHECK_FALSE(dry_tracker.state_of(dry.b));
  }
}

TEST_CASE("load findings: a meta entry in the checkpoint cannot fill the tensor", "[load]") {
  test::TempDir dir;
  const std::string path = dir.file("meta.pt");
  PlainCheckpoint checkpoint;
  checkpoint.add_meta("a", {2, 3}, {3, 1});
  checkpoint.add("b", "float32", {4}, float_bytes(iota(4)));
  checkpoint.add("running", "float32", {3}, float_bytes(iota(3)));
  checkpoint.write(path);
  Small small(torch::kMeta);
  TensorStateTracker tracker;
  ModuleWalker walker(small, &tracker);
  LoadResult result = load_checkpoint(walker, tracker, CheckpointFile::open(path));
  CHECK(codes(result.findings) == std::set<std::pair<std::string, std::string>>{{"meta-checkpoint-entry", "a"}});
  CHECK(small.a.is_meta());
  CHECK(torch::equal(small.b, torch::arange(4, torch::kFloat32)));
}

TEST_CASE("load: strided views of one storage load as views of one storage", "[load]") {
  test::TempDir dir;
  const std::string path = dir.file("views.pt");
  const std::string storage = float_bytes(iota(12));  // element k holds k
  std::vector<WriteStorage> storages{{"float32", storage}};
  std::vector<WriteTensor> tensors{
      {"a", "float32", V{2, 3}, V{1, 2}, 0, 0},  // a[i][j] = i + 2j (a transposed view)
      {"b", "float32", V{4}, V{1}, 6, 0},        // 6, 7, 8, 9
      {"running", "float32", V{3}, V{2}, 5, 0},  // 5, 7, 9
  };
  write_torch_checkpoint(path, storages, tensors);
  Small small(torch::kMeta);
  TensorStateTracker tracker;
  ModuleWalker walker(small, &tracker);
  LoadResult result = load_checkpoint(walker, tracker, CheckpointFile::open(path));
  CHECK(result.findings.empty());
  CHECK(torch::equal(small.a, torch::tensor({0.f, 2.f, 4.f, 1.f, 3.f, 5.f}).reshape({2, 3})));
  CHECK(torch::equal(small.b, torch::tensor({6.f, 7.f, 8.f, 9.f})));
  CHECK(torch::equal(small.running, torch::tensor({5.f, 7.f, 9.f})));
  CHECK(small.a.strides() == c10::IntArrayRef({1, 2}));
  // One storage, read once: elements 0..9 (the range the views reach).
  CHECK(small.a.storage().unsafeGetStorageImpl() == small.b.storage().unsafeGetStorageImpl());
  CHECK(small.a.storage().unsafeGetStorageImpl() == small.running.storage().unsafeGetStorageImpl());
  CHECK(result.bytes_read == 10 * sizeof(float));
  // They are views: a write through one is seen by the other, as after torch.load.
  {
    torch::NoGradGuard no_grad;
    small.b[1].fill_(-1);  // element 7 of the storage
  }
  CHECK(small.running[1].item<float>() == -1.0f);
  CHECK(small.a[1][2].item<float>() == 5.0f);
}

TEST_CASE("load: a corrupt storage record is refused before its values are used", "[load]") {
  test::TempDir dir;
  const std::string path = dir.file("corrupt.pt");
  const std::string storage = float_bytes(iota(12));
  std::vector<WriteStorage> storages{{"float32", storage}, {"float32", float_bytes(iota(3))}};
  std::vector<WriteTensor> tensors{
      {"a", "float32", V{2, 3}, V{3, 1}, 0, 0},  // elements 0..5 of storage 0
      {"running", "float32", V{3}, V{1}, 0, 1},
  };
  write_torch_checkpoint(path, storages, tensors);
  uint64_t offset = *CheckpointFile::open(path).storages()[0].file_offset;
  // Element 11 lies outside the range any tensor views: the record's CRC still covers it.
  flip_byte(path, offset + 11 * sizeof(float));
  CheckpointFile file = CheckpointFile::open(path);  // metadata is intact
  for (int threads : {1, 2}) {
    Small small(torch::kMeta);
    TensorStateTracker tracker;
    ModuleWalker walker(small, &tracker);
    LoadOptions options;
    options.threads = threads;
    try {
      load_checkpoint(walker, tracker, file, options);
      FAIL("a CRC-32 mismatch must throw");
    } catch (const InputError& error) {
      std::string message = error.what();
      CHECK(message.find(path) != std::string::npos);
      CHECK(message.find("CRC-32") != std::string::npos);
      CHECK(message.find("archive/data/0") != std::string::npos);
    }
    CHECK(small.a.is_meta());
  }
}

TEST_CASE("load: a file cut short is an input error, not a crash", "[load]") {
  test::TempDir dir;
  const std::string path = dir.file("short.pt");
  PlainCheckpoint checkpoint;
  checkpoint.add("a", "float32", {2, 3}, float_bytes(iota(6)));
  checkpoint.write(path);
  CheckpointFile file = CheckpointFile::open(path);
  // Truncate under the open file: the metadata was read, the bytes are gone.
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(*file.storages()[0].file_offset + 8)) == 0);
  Small small(torch::kMeta);
  TensorStateTracker tracker;
  ModuleWalker walker(small, &tracker);
  CHECK_THROWS_WITH(load_checkpoint(walker, tracker, file), Catch::Contains(path) && Catch::Contains("truncated"));
  CHECK(small.a.is_meta());
}

TEST_CASE("load: hidden keys are missing, and tensors not selected are neither loaded nor reported", "[load]") {
  test::TempDir dir;
  const std::string path = dir.file("full.pt");
  write_full_checkpoint(path);
  CheckpointFile file = CheckpointFile::open(path);
  Small small(torch::kMeta);
  TensorStateTracker tracker;
  ModuleWalker walker(small, &tracker);
  LoadOptions options;
  options.hide_keys = [](const std::string& key) { return key == "b"; };
  options.select = [](const LiveTensor& live) { return live.name != "running"; };
  LoadResult result = load_checkpoint(walker, tracker, file, options);
  CHECK(codes(result.findings) == std::set<std::pair<std::string, std::string>>{{"missing-key", "b"}});
  CHECK(small.b.is_meta());
  CHECK(small.running.is_meta());
  CHECK_FALSE(small.a.is_meta());
}

TEST_CASE("load: dry-run content keys stand for the values", "[load]") {
  test::TempDir dir;
  const std::string path = dir.file("keys.pt");
  write_full_checkpoint(path);
  CheckpointFile file = CheckpointFile::open(path);
  auto keys_of = [&](Small& small) {
    TensorStateTracker tracker(true);
    ModuleWalker walker(small, &tracker);
    load_checkpoint(walker, tracker, file);
    return std::vector<uint64_t>{tracker.state_of(small.a)->content_key, tracker.state_of(small.b)->content_key,
                                 tracker.state_of(small.running)->content_key};
  };
  Small first(torch::kMeta), second(torch::kMeta);
  auto k1 = keys_of(first);
  auto k2 = keys_of(second);
  CHECK(k1 == k2);  // two ranks loading one file agree
  CHECK(std::set<uint64_t>(k1.begin(), k1.end()).size() == 3);

  PlainCheckpoint other;  // other values for "b"
  other.add("a", "float32", {2, 3}, float_bytes(iota(6)));
  other.add("b", "float32", {4}, float_bytes(iota(4, 1)));
  other.add("running", "float32", {3}, float_bytes(iota(3)));
  const std::string other_path = dir.file("other.pt");
  other.write(other_path);
  CheckpointFile other_file = CheckpointFile::open(other_path);
  Small third(torch::kMeta);
  TensorStateTracker tracker(true);
  ModuleWalker walker(third, &tracker);
  load_checkpoint(walker, tracker, other_file);
  CHECK(tracker.state_of(third.b)->content_key != k1[1]);
  CHECK(tracker.state_of(third.a)->content_key == k1[0]);
}

TEST_CASE("load: PyTorch's deflated records stream through the CRC-checked reader", "[load]") {
  // fixtures/checkpoints/good/compressed.pt: weight (3, 4), bias (4), index int64 (5).
  struct Plain : torch::nn::Module {
    Plain() {
      auto meta = torch::TensorOptions().device(torch::kMeta);
      weight = register_parameter("weight", torch::empty({3, 4}, meta));
      bias = register_parameter("bias", torch::empty({4}, meta));
      index = register_buffer("index", torch::empty({5}, meta.dtype(torch::kInt64)));
    }
    torch::Tensor weight, bias, index;
  } plain;
  const std::string path = test::source_path("fixtures/checkpoints/good/compressed.pt");
  CheckpointFile file = CheckpointFile::open(path);
  REQUIRE_FALSE(file.storages()[0].file_offset);  // deflated: no direct offset
  TensorStateTracker tracker;
  ModuleWalker walker(plain, &tracker);
  LoadResult result = load_checkpoint(walker, tracker, file);
  CHECK(result.findings.empty());
  nlohmann::json sidecar = nlohmann::json::parse(test::read_binary(path + ".json"));
  for (const auto& entry : sidecar["tensors"]) {
    const std::string name = entry["name"];
    INFO(name);
    torch::Tensor tensor = walker.find(name)->tensor;
    const std::string want = entry["head_hex"];
    CHECK(test::hex(test::tensor_bytes(tensor)).substr(0, want.size()) == want);
  }
}

TEST_CASE("load: safetensors files load too, every dtype, 0-dim and empty", "[load]") {
  const std::string path = test::source_path("fixtures/checkpoints/good/model.safetensors");
  nlohmann::json sidecar = nlohmann::json::parse(test::read_binary(path + ".json"));
  // A module "model" with one buffer per entry, as its sidecar (PyTorch's view) describes it.
  struct Holder : torch::nn::Module {};
  auto holder = std::make_shared<Holder>();
  Holder root;
  for (const auto& entry : sidecar["tensors"]) {
    const std::string name = entry["name"];
    auto dtype = scalar_type_from_name(entry["dtype"].get<std::string>());
    REQUIRE(dtype);
    holder->register_buffer(name.substr(name.find('.') + 1),
                            torch::empty(entry["shape"].get<V>(), torch::TensorOptions().device(torch::kMeta).dtype(*dtype)));
  }
  root.register_module("model", holder);
  TensorStateTracker tracker;
  ModuleWalker walker(root, &tracker);
  LoadResult result = load_checkpoint(walker, tracker, CheckpointFile::open(path));
  CHECK(result.findings.empty());
  for (const auto& entry : sidecar["tensors"]) {
    const std::string name = entry["name"];
    INFO(name);
    torch::Tensor tensor = walker.find(name)->tensor;
    REQUIRE_FALSE(tensor.is_meta());
    CHECK(tensor.sizes() == c10::IntArrayRef(entry["shape"].get<V>()));
    const std::string want = entry["head_hex"];
    CHECK(test::hex(test::tensor_bytes(tensor)).substr(0, want.size()) == want);
  }
}

TEST_CASE("load property: any view of any storage loads the elements the writer was given", "[load][property]") {
  rc::prop("a permuted, offset, strided view loads element for element", []() {
    const int dims = *rc::gen::inRange(0, 4);
    V shape;
    for (int d = 0; d < dims; ++d) shape.push_back(*rc::gen::inRange<int64_t>(1, 5));
    // Strides of a contiguous layout of a (possibly padded) shape, permuted: transposes,
    // gaps between rows, and a storage offset.
    V padded = shape;
    for (auto& size : padded) size += *rc::gen::inRange<int64_t>(0, 2);
    V order(static_cast<size_t>(dims));
    for (int d = 0; d < dims; ++d) order[static_cast<size_t>(d)] = d;
    if (dims > 1 && *rc::gen::arbitrary<bool>()) std::swap(order[0], order[static_cast<size_t>(dims - 1)]);
    V stride(static_cast<size_t>(dims));
    int64_t step = 1;
    for (int k = dims - 1; k >= 0; --k) {
      const size_t d = static_cast<size_t>(order[static_cast<size_t>(k)]);
      stride[d] = step;
      step *= padded[d];
    }
    const int64_t offset = *rc::gen::inRange<int64_t>(0, 4);
    const int64_t storage_numel = offset + step + *rc::gen::inRange<int64_t>(0, 3);
    std::vector<float> values;
    for (int64_t k = 0; k < storage_numel; ++k) values.push_back(*rc::gen::inRange(-1000, 1000) / 8.0f);
    const std::string bytes = float_bytes(values);

    test::TempDir dir;
    const std::string path = dir.file("view.pt");
    write_torch_checkpoint(path, {{"float32", bytes}}, {{"w", "float32", shape, stride, offset, 0}});
    struct One : torch::nn::Module {
      explicit One(const V& shape) { w = register_parameter("w", torch::empty(shape, torch::TensorOptions().device(torch::kMeta))); }
      torch::Tensor w;
    } one(shape);
    TensorStateTracker tracker;
    ModuleWalker walker(one, &tracker);
    LoadResult result = load_checkpoint(walker, tracker, CheckpointFile::open(path));
    RC_ASSERT(result.findings.empty());
    RC_ASSERT(one.w.sizes() == c10::IntArrayRef(shape));
    // Expected: element (i0, i1, ...) is values[offset + sum(ik * stride[k])], row-major.
    int64_t numel = 1;
    for (int64_t size : shape) numel *= size;
    std::vector<float> expected;
    for (int64_t k = 0; k < numel; ++k) {
      int64_t rest = k, at = offset;
      for (int d = dims - 1; d >= 0; --d) {
        at += (rest % shape[static_cast<size_t>(d)]) * stride[static_cast<size_t>(d)];
        rest /= shape[static_cast<size_t>(d)];
      }
      expected.push_back(values[static_cast<size_t>(at)]);
    }
    RC_ASSERT(test::tensor_bytes(one.w) == float_bytes(expected));
  });
}
