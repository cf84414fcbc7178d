// The writers' files read back by Python's PyTorch itself (test::python_executable(), e.g.
// python3-torch): torch.load(..., weights_only=True) must return identical tensors, shared
// storages shared; the safetensors file is decoded by a few lines of Python per the format
// spec and torch.frombuffer. Expected values come from the bytes this test handed in.
#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <random>

#include "checkpoint/checkpoint_writer.hpp"
#include "checkpoint/safetensors_file.hpp"
#include "core/tensor_record.hpp"
#include "integration/scan_process.hpp"
#include "support/paths.hpp"

namespace {

using nlohmann::json;
using metaguard::WriteStorage;
using metaguard::WriteTensor;
namespace test = metaguard::test;

const std::string kPython = test::python_executable();

// Prints, per key of the loaded object, PyTorch's view of the tensor as JSON.
const char* const kDescribeTorchLoad = R"PY(
import json, sys, collections, torch
loaded = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
groups, out = {}, []
for name, t in loaded.items():
    entry = {"name": name, "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
             "stride": list(t.stride()), "storage_offset": t.storage_offset(), "is_meta": t.is_meta,
             "requires_grad": t.requires_grad}
    if not t.is_meta:
        # the storage itself: untyped_storage() since PyTorch 2.0, storage()._storage in 1.13
        storage = t.untyped_storage() if hasattr(t, "untyped_storage") else t.storage()._storage
        entry["group"] = groups.setdefault(storage._cdata, len(groups))
        flat = t.detach().contiguous().reshape(-1)
        if flat.dtype in (torch.bfloat16, torch.bool):
            flat = flat.view(torch.int16 if flat.dtype == torch.bfloat16 else torch.uint8)
        entry["hex"] = flat.numpy().tobytes().hex()
    out.append(entry)
print(json.dumps({"type": type(loaded).__name__, "tensors": out}))
)PY";

// Reads a safetensors file to the format's spec, then builds each tensor with torch.frombuffer.
const char* const kDescribeSafetensors = R"PY(
import json, struct, sys, torch
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n])
codes = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64,
         "I8": torch.int8, "U8": torch.uint8, "I16": torch.int16, "I32": torch.int32,
         "I64": torch.int64, "BOOL": torch.bool}
out = []
for name, info in header.items():
    if name == "__metadata__":
        continue
    begin, end = info["data_offsets"]
    raw = bytearray(data[8 + n + begin: 8 + n + end])
    t = torch.frombuffer(raw, dtype=codes[info["dtype"]]) if raw else torch.empty(0, dtype=codes[info["dtype"]])
    t = t.reshape(info["shape"])
    flat = t.reshape(-1)
    if flat.dtype in (torch.bfloat16, torch.bool):
        flat = flat.view(torch.int16 if flat.dtype == torch.bfloat16 else torch.uint8)
    out.append({"name": name, "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                "hex": flat.numpy().tobytes().hex()})
print(json.dumps({"metadata": header.get("__metadata__", {}), "tensors": out}))
)PY";

json run_python(const char* script, const std::string& path) {
  auto run = test::run_process({kPython, "-c", script, path});
  INFO("python stderr: " << run.err);
  REQUIRE(run.exit_code == 0);
  return json::parse(run.out);
}

// The elements of a view in row-major order, gathered from the storage bytes.
std::string gather(const WriteTensor& tensor, std::string_view storage) {
  const int64_t element = metaguard::element_size(tensor.dtype);
  int64_t numel = 1;
  for (int64_t dim : tensor.shape) numel *= dim;
  std::string out;
  for (int64_t k = 0; k < numel; ++k) {
    int64_t rest = k;
    int64_t index = tensor.storage_offset;
    for (size_t d = tensor.shape.size(); d-- > 0;) {
      index += (rest % tensor.shape[d]) * tensor.stride[d];
      rest /= tensor.shape[d];
    }
    out.append(storage.substr(static_cast<size_t>(index * element), static_cast<size_t>(element)));
  }
  return out;
}

std::string random_bytes(size_t size, std::mt19937& rng, bool as_bool = false) {
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(as_bool ? rng() % 2 : rng() % 256);
  return out;
}

}  // namespace

TEST_CASE("python interop: PyTorch's python3 with torch is installed", "[python]") {
  auto run = test::run_process({kPython, "-c", "import torch; print(torch.__version__)"});
  INFO("these tests need " << kPython << " with torch (Debian: apt-get install python3-torch): " << run.err);
  REQUIRE(run.exit_code == 0);
}

TEST_CASE("python interop: torch.load(weights_only=True) reads the writer's checkpoint", "[python]") {
  std::mt19937 rng(7);
  const std::vector<std::string> dtypes = {"float16", "bfloat16", "float32", "float64", "int8", "uint8",
                                           "int16", "int32", "int64", "bool", "complex64", "complex128"};
  std::vector<std::string> buffers;
  buffers.reserve(dtypes.size() + 2);
  std::vector<WriteStorage> storages;
  std::vector<WriteTensor> tensors;
  using V = std::vector<int64_t>;
  for (const auto& dtype : dtypes) {
    const int64_t element = metaguard::element_size(dtype);
    buffers.push_back(random_bytes(static_cast<size_t>(12 * element), rng, dtype == "bool"));
    storages.push_back({dtype, buffers.back()});
    const size_t s = storages.size() - 1;
    tensors.push_back(metaguard::whole_storage_tensor(dtype + ".matrix", dtype, {3, 4}, s));
    tensors.push_back({dtype + ".transposed", dtype, V{4, 3}, V{1, 4}, 0, s});
    tensors.push_back({dtype + ".row", dtype, V{4}, V{1}, 8, s});
    tensors.push_back({dtype + ".scalar", dtype, V{}, V{}, 5, s});
    tensors.push_back({dtype + ".column", dtype, V{3}, V{4}, 1, s});
  }
  buffers.push_back(std::string());
  storages.push_back({"float32", buffers.back()});
  tensors.push_back(metaguard::whole_storage_tensor("empty", "float32", {0, 3}, storages.size() - 1));
  tensors.push_back({"pending", "float32", V{2, 3}, V{3, 1}, 0, std::nullopt});  // meta

  test::TempDir dir;
  const std::string path = dir.file("written.pt");
  metaguard::write_torch_checkpoint(path, storages, tensors);
  const json loaded = run_python(kDescribeTorchLoad, path);
  CHECK(loaded["type"] == "OrderedDict");
  REQUIRE(loaded["tensors"].size() == tensors.size());
  std::map<size_t, int64_t> group_of_storage;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const WriteTensor& want = tensors[i];
    const json& got = loaded["tensors"][i];
    INFO(want.name);
    CHECK(got["name"] == want.name);
    CHECK(got["dtype"] == want.dtype);
    CHECK(got["shape"] == want.shape);
    CHECK(got["stride"] == want.stride);
    CHECK(got["is_meta"] == !want.storage.has_value());
    CHECK(got["requires_grad"] == false);
    if (!want.storage) continue;
    CHECK(got["storage_offset"] == want.storage_offset);
    CHECK(got["hex"] == test::hex(gather(want, storages[*want.storage].bytes)));
    // One storage in the file is one storage in PyTorch (views and ties survive loading).
    auto [it, inserted] = group_of_storage.emplace(*want.storage, got["group"].get<int64_t>());
    CHECK(it->second == got["group"]);
  }
  CHECK(group_of_storage.size() == storages.size());
}

TEST_CASE("python interop: a large state dict in several SETITEMS batches", "[python]") {
  // Over 1000 keys (the pickler's batch size) and a storage above 64 KiB.
  std::mt19937 rng(11);
  std::vector<std::string> buffers;
  buffers.reserve(1203);
  std::vector<WriteStorage> storages;
  std::vector<WriteTensor> tensors;
  for (int i = 0; i < 1203; ++i) {
    buffers.push_back(random_bytes(i == 0 ? 70000 * 4 : 8, rng));
    storages.push_back({"float32", buffers.back()});
    tensors.push_back(metaguard::whole_storage_tensor("layers." + std::to_string(i) + ".w", "float32",
                                                      {i == 0 ? 70000 : 2}, storages.size() - 1));
  }
  test::TempDir dir;
  const std::string path = dir.file("many.pt");
  metaguard::write_torch_checkpoint(path, storages, tensors);
  const json loaded = run_python(kDescribeTorchLoad, path);
  REQUIRE(loaded["tensors"].size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); i += 97) {
    CHECK(loaded["tensors"][i]["name"] == tensors[i].name);
    CHECK(loaded["tensors"][i]["hex"] == test::hex(buffers[i]));
  }
  CHECK(loaded["tensors"][1202]["hex"] == test::hex(buffers[1202]));
}

TEST_CASE("python interop: the safetensors writer's file decodes to the same tensors", "[python]") {
  std::mt19937 rng(3);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> specs = {
      {"float16", {2, 3}}, {"bfloat16", {4}}, {"float32", {3, 1, 2}}, {"float64", {}},
      {"int8", {5}},       {"uint8", {2, 2}}, {"int16", {3}},         {"int32", {0, 4}},
      {"int64", {2}},      {"bool", {7}}};
  std::vector<std::string> buffers;
  buffers.reserve(specs.size());
  std::vector<metaguard::SafetensorsEntry> entries;
  for (const auto& [dtype, shape] : specs) {
    int64_t numel = 1;
    for (int64_t dim : shape) numel *= dim;
    buffers.push_back(random_bytes(static_cast<size_t>(numel * metaguard::element_size(dtype)), rng, dtype == "bool"));
    entries.push_back({"model." + dtype, dtype, shape, buffers.back()});
  }
  test::TempDir dir;
  const std::string path = dir.file("model.safetensors");
  metaguard::write_safetensors(path, entries, {{"format", "pt"}});
  const json loaded = run_python(kDescribeSafetensors, path);
  CHECK(loaded["metadata"] == json{{"format", "pt"}});
  REQUIRE(loaded["tensors"].size() == entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const json& got = loaded["tensors"][i];
    INFO(entries[i].name);
    CHECK(got["name"] == entries[i].name);
    CHECK(got["dtype"] == entries[i].dtype);
    CHECK(got["shape"] == entries[i].shape);
    CHECK(got["hex"] == test::hex(buffers[i]));
  }
}
