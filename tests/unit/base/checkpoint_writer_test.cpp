// The torch.save-compatible writer and the safetensors writer: round trips through the
// readers, refusals, and atomic replacement (including a writer killed mid-write). That
// PyTorch itself reads the writer's files is proven in tests/integration/python_interop_test.cpp.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/checkpoint_writer.hpp"
#include "checkpoint/safetensors_file.hpp"
#include "core/errors.hpp"
#include "unit/base/checkpoint_test_support.hpp"

namespace {

using metaguard::CheckpointFile;
using metaguard::InputError;
using metaguard::WriteStorage;
using metaguard::WriteTensor;
namespace test = metaguard::test;

template <typename T>
std::string raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const InputError& error) {
    return error.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("checkpoint writer: a state dict round-trips through the reader", "[checkpoint][writer]") {
  test::TempDir dir;
  const std::string path = dir.file("model.pt");
  std::vector<float> weights(12);
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<float>(i) * 0.5f;
  const std::string weight_bytes = raw(weights);
  const std::string index_bytes = raw(std::vector<int64_t>{7, -1, 1LL << 40});
  const std::string half_bytes("\x00\x3c\x00\x7c", 4);  // float16 1.0, +Inf
  std::vector<WriteStorage> storages = {{"float32", weight_bytes}, {"int64", index_bytes},
                                        {"bfloat16", half_bytes, "cuda:1"}, {"bool", std::string_view()}};
  std::vector<WriteTensor> tensors = {
      metaguard::whole_storage_tensor("layer.weight", "float32", {3, 4}, 0),
      {"layer.weight_t", "float32", {4, 3}, {1, 4}, 0, 0},     // transposed view, same storage
      {"layer.row", "float32", {4}, {1}, 8, 0},                 // offset view
      metaguard::whole_storage_tensor("index", "int64", {3}, 1),
      {"scalar", "int64", {}, {}, 2, 1},                        // 0-dim view at offset 2
      metaguard::whole_storage_tensor("half", "bfloat16", {2}, 2),
      metaguard::whole_storage_tensor("empty", "bool", {0, 5}, 3),
      {"pending", "float32", {2, 2}, {2, 1}, 0, std::nullopt},  // meta
  };
  metaguard::write_torch_checkpoint(path, storages, tensors);

  CheckpointFile file = CheckpointFile::open(path);
  const std::string written = test::read_binary(path);
  CHECK(file.contents().format == "torch-zip");
  CHECK(file.contents().pickle_protocol == 2);
  REQUIRE(file.tensors().size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& got = file.tensors()[i];
    INFO(tensors[i].name);
    CHECK(got.name == tensors[i].name);
    CHECK(got.dtype == tensors[i].dtype);
    CHECK(got.shape == tensors[i].shape);
    CHECK(got.stride == tensors[i].stride);
    CHECK(got.storage_offset == tensors[i].storage_offset);
    CHECK(got.is_meta() == !tensors[i].storage.has_value());
  }
  // Storages: shared where the input shared them, bytes where the reader says they are.
  CHECK(file.tensors()[0].storage == file.tensors()[1].storage);
  CHECK(file.tensors()[0].storage == file.tensors()[2].storage);
  CHECK(file.tensors()[3].storage == file.tensors()[4].storage);
  REQUIRE(file.storages().size() == 4);
  for (size_t t : {0, 3, 5, 6}) {
    const auto& storage = file.storages()[*file.tensors()[t].storage];
    const WriteStorage& input = storages[*tensors[t].storage];
    REQUIRE(storage.file_offset.has_value());
    CHECK(written.substr(*storage.file_offset, static_cast<size_t>(storage.nbytes)) == input.bytes);
    CHECK(storage.location == input.location);
  }
  CHECK(file.tensors()[5].device == "cuda:1");

  // Equal inputs give equal files.
  metaguard::write_torch_checkpoint(dir.file("again.pt"), storages, tensors);
  CHECK(test::read_binary(dir.file("again.pt")) == written);
}

TEST_CASE("checkpoint writer: inconsistent input is refused and touches nothing", "[checkpoint][writer]") {
  test::TempDir dir;
  const std::string path = dir.file("model.pt");
  test::write_binary(path, "previous contents");
  const std::string bytes(16, '\0');
  auto attempt = [&](std::vector<WriteStorage> storages, std::vector<WriteTensor> tensors) {
    return error_of([&] { metaguard::write_torch_checkpoint(path, storages, tensors); });
  };
  using V = std::vector<int64_t>;
  CHECK_THAT(attempt({{"float33", bytes}}, {}), Catch::Contains("unknown dtype 'float33'"));
  CHECK_THAT(attempt({{"float64", std::string_view(bytes.data(), 12)}}, {}), Catch::Contains("not a whole number"));
  CHECK_THAT(attempt({{"float32", bytes}}, {{"w", "float32", V{5}, V{1}, 0, 0}}),
             Catch::Contains("needs 5 elements of a storage that holds 4"));
  CHECK_THAT(attempt({{"float32", bytes}}, {{"w", "int32", V{4}, V{1}, 0, 0}}), Catch::Contains("its storage holds float32"));
  CHECK_THAT(attempt({{"float32", bytes}}, {{"w", "float32", V{1}, V{1}, 0, 0}, {"w", "float32", V{1}, V{1}, 0, 0}}),
             Catch::Contains("unique UTF-8"));
  CHECK_THAT(attempt({{"float32", bytes}}, {{"w\xff", "float32", V{1}, V{1}, 0, 0}}), Catch::Contains("unique UTF-8"));
  CHECK_THAT(attempt({{"float32", bytes}}, {{"w", "float32", V{2}, V{1, 1}, 0, 0}}), Catch::Contains("impossible layout"));
  CHECK_THAT(attempt({{"float32", bytes}}, {{"w", "float32", V{1}, V{1}, 0, 3}}), Catch::Contains("missing storage"));
  CHECK_THAT(attempt({{"float32", bytes, "cuda\n0"}}, {}), Catch::Contains("not a device name"));
  CHECK(test::read_binary(path) == "previous contents");
  CHECK(dir.names() == std::vector<std::string>{"model.pt"});  // no temporary file left behind

  CHECK_THAT(error_of([&] { metaguard::write_torch_checkpoint(dir.file("missing/x.pt"), {}, {}); }),
             Catch::StartsWith("'" + dir.file("missing/x.pt") + "': "));
}

TEST_CASE("checkpoint writer: a writer killed mid-write leaves the previous file intact", "[checkpoint][writer]") {
  test::TempDir dir;
  const std::string path = dir.file("model.pt");
  std::vector<float> small = {1, 2, 3};
  const std::string small_bytes = raw(small);
  metaguard::write_torch_checkpoint(path, {{"float32", small_bytes}},
                                    {metaguard::whole_storage_tensor("w", "float32", {3}, 0)});
  const std::string previous = test::read_binary(path);
  // A big new version: 96 MiB takes long enough to write that the kill lands mid-way.
  const std::string big(96u << 20, '\x01');
  for (int delay_ms : {0, 5, 40}) {
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      try {
        metaguard::write_torch_checkpoint(path, {{"float32", big}},
                                          {metaguard::whole_storage_tensor("w", "float32", {24 << 20}, 0)});
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
    // Kill once the writer's temporary file exists (it is writing), after a varying delay.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (dir.names().size() < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    // Whatever moment it died at, the target is the old file or the whole new one.
    const std::string now = test::read_binary(path);
    if (now == previous) {
      SUCCEED("killed before the rename: previous file intact");
    } else {
      CheckpointFile file = CheckpointFile::open(path);
      REQUIRE(file.tensors().size() == 1);
      CHECK(file.tensors()[0].numel == 24 << 20);
      CHECK(now.substr(*file.storages()[0].file_offset, big.size()) == big);
    }
    for (const auto& name : dir.names()) {  // a killed writer may leave its temporary file
      if (name != "model.pt") ::unlink(dir.file(name).c_str());
    }
    metaguard::write_torch_checkpoint(path, {{"float32", small_bytes}},
                                      {metaguard::whole_storage_tensor("w", "float32", {3}, 0)});
  }
}

TEST_CASE("checkpoint writer: safetensors round-trip", "[checkpoint][writer][safetensors]") {
  test::TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const std::string f32 = raw(std::vector<float>{1.5f, -2.0f, 0.25f, 8.0f, 9.0f, 10.0f});
  const std::string bf16("\x80\x3f\x80\x7f", 4);
  const std::string flags("\x01\x00\x01", 3);
  const std::string scalar = raw(std::vector<int64_t>{42});
  std::vector<metaguard::SafetensorsEntry> entries = {
      {"w", "float32", {2, 3}, f32}, {"h", "bfloat16", {2}, bf16}, {"mask", "bool", {3}, flags},
      {"step", "int64", {}, scalar}, {"none", "float16", {0, 7}, std::string_view()}};
  metaguard::write_safetensors(path, entries, {{"format", "pt"}});
  const std::string written = test::read_binary(path);
  uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = (header << 8) | static_cast<unsigned char>(written[static_cast<size_t>(i)]);
  CHECK(header % 8 == 0);
  auto json = nlohmann::json::parse(written.substr(8, header));
  CHECK(json["__metadata__"] == nlohmann::json{{"format", "pt"}});
  CHECK(json["w"]["dtype"] == "F32");
  CHECK(json["h"]["dtype"] == "BF16");

  CheckpointFile file = CheckpointFile::open(path);
  CHECK(file.contents().format == "safetensors");
  CHECK(file.contents().metadata == nlohmann::json{{"format", "pt"}});
  REQUIRE(file.tensors().size() == entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    // Tensors come back in data order, which is the order written.
    const auto& tensor = file.tensors()[i];
    CHECK(tensor.name == entries[i].name);
    CHECK(tensor.dtype == entries[i].dtype);
    CHECK(tensor.shape == entries[i].shape);
    const auto& storage = file.storages()[*tensor.storage];
    CHECK(written.substr(*storage.file_offset, static_cast<size_t>(storage.nbytes)) == entries[i].bytes);
  }

  CHECK_THAT(error_of([&] { metaguard::write_safetensors(path, {{"c", "complex128", {1}, std::string(16, '\0')}}); }),
             Catch::Contains("no dtype code"));
  CHECK_THAT(error_of([&] { metaguard::write_safetensors(path, {{"w", "float32", {3}, f32}}); }),
             Catch::Contains("needs 12 bytes but 24 were given"));
  CHECK_THAT(error_of([&] { metaguard::write_safetensors(path, {{"w", "float32", {6}, f32}, {"w", "float32", {6}, f32}}); }),
             Catch::Contains("repeated"));
  CHECK(test::read_binary(path) == written);
  CHECK(dir.names() == std::vector<std::string>{"model.safetensors"});
}
