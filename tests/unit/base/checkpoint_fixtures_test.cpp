// The readers against fixtures/checkpoints/: each expectation comes from the JSON sidecar
// that make_fixtures.py wrote from PyTorch's own view of the file (torch.load, Python's
// zipfile), never from metaguard's reader.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/value_scan.hpp"
#include "core/errors.hpp"
#include "core/tensor_record.hpp"
#include "unit/base/checkpoint_test_support.hpp"

namespace {

using metaguard::CheckpointFile;
using metaguard::CheckpointTensor;
using metaguard::InputError;
using nlohmann::json;
namespace test = metaguard::test;

// The bytes of a storage: straight from the file at its offset when stored as is (what a
// loader does), else through the reader's stream.
std::string storage_bytes(const CheckpointFile& file, size_t index, const std::string& raw_file) {
  const auto& storage = file.storages()[index];
  if (storage.file_offset) return raw_file.substr(*storage.file_offset, static_cast<size_t>(storage.nbytes));
  std::string out;
  auto stream = file.open_storage(index);
  char buffer[256];
  while (size_t got = stream->read(buffer, sizeof buffer)) out.append(buffer, got);
  return out.substr(0, static_cast<size_t>(storage.nbytes));
}

// The first `count` elements of a view in row-major order, gathered with shape and stride.
std::string head_bytes(const CheckpointTensor& tensor, const std::string& storage, int64_t count) {
  const int64_t element = metaguard::element_size(tensor.dtype);
  std::string out;
  for (int64_t k = 0; k < count && k < tensor.numel; ++k) {
    int64_t rest = k;
    int64_t index = tensor.storage_offset;
    for (size_t d = tensor.shape.size(); d-- > 0;) {
      index += (rest % tensor.shape[d]) * tensor.stride[d];
      rest /= tensor.shape[d];
    }
    out += storage.substr(static_cast<size_t>(index * element), static_cast<size_t>(element));
  }
  return out;
}

}  // namespace

TEST_CASE("checkpoint fixtures: every good file reads as PyTorch sees it", "[checkpoint][fixtures]") {
  auto files = test::checkpoint_fixtures("good");
  REQUIRE(files.size() >= 14);
  for (const auto& path : files) {
    DYNAMIC_SECTION(path) {
      const json expected = test::sidecar(path);
      const std::string raw = test::read_binary(path);
      CheckpointFile file = CheckpointFile::open(path);
      CHECK(file.contents().format == expected["format"]);
      CHECK(file.contents().metadata == expected["metadata"]);
      const auto& tensors = expected["tensors"];
      REQUIRE(file.tensors().size() == tensors.size());
      metaguard::ValueScan scan = metaguard::scan_values(file, 64);  // a small buffer: many refills
      std::map<int64_t, size_t> storage_of_group;
      std::map<size_t, int64_t> group_of_storage;
      for (size_t i = 0; i < tensors.size(); ++i) {
        const CheckpointTensor& tensor = file.tensors()[i];
        const json& want = tensors[i];
        INFO("tensor " << want["name"]);
        CHECK(tensor.name == want["name"]);
        CHECK(tensor.dtype == want["dtype"]);
        CHECK(tensor.shape == want["shape"].get<std::vector<int64_t>>());
        CHECK(tensor.stride == want["stride"].get<std::vector<int64_t>>());
        CHECK(tensor.storage_offset == want["storage_offset"]);
        CHECK(tensor.numel == want["numel"]);
        CHECK(tensor.contiguous == want["contiguous"]);
        CHECK(tensor.is_meta() == want["is_meta"]);
        CHECK(tensor.device == want["device_as_saved"]);
        CHECK(scan.tensors[i].total() == want["nonfinite"]);
        if (tensor.is_meta()) continue;
        // Shared storages: the same groups as PyTorch's storage identity, both ways.
        int64_t group = want["storage_group"];
        auto [by_group, new_group] = storage_of_group.emplace(group, *tensor.storage);
        auto [by_storage, new_storage] = group_of_storage.emplace(*tensor.storage, group);
        CHECK(by_group->second == *tensor.storage);
        CHECK(by_storage->second == group);
        CHECK(file.storages()[*tensor.storage].numel == want["storage_numel"]);
        std::string storage = storage_bytes(file, *tensor.storage, raw);
        CHECK(test::hex(head_bytes(tensor, storage, 4)) == want["head_hex"]);
      }
      if (expected.contains("records")) {
        for (const auto& storage : file.storages()) {
          INFO("record " << storage.record);
          REQUIRE(expected["records"].contains(storage.record));
          const json& record = expected["records"][storage.record];
          CHECK(storage.stored_size == record["size"]);
          CHECK(storage.compressed == (record["compression"] != 0));
          if (!storage.compressed) CHECK(storage.file_offset == record["data_offset"].get<uint64_t>());
        }
      }
    }
  }
}

TEST_CASE("checkpoint fixtures: the inventory and findings of a file with meta entries", "[checkpoint][fixtures]") {
  const std::string path = test::source_path("fixtures/checkpoints/good/meta.pt");
  const json expected = test::sidecar(path);
  CheckpointFile file = CheckpointFile::open(path);
  metaguard::Inventory inventory = file.inventory();
  auto findings = file.meta_findings();
  size_t meta = 0;
  for (size_t i = 0; i < expected["tensors"].size(); ++i) {
    const json& want = expected["tensors"][i];
    const auto& record = inventory.tensors()[i];
    CHECK(record.name == want["name"]);
    CHECK(record.kind == metaguard::TensorKind::CheckpointEntry);
    CHECK_FALSE(record.requires_grad.has_value());
    CHECK(record.nbytes == want["numel"].get<int64_t>() * metaguard::element_size(want["dtype"].get<std::string>()));
    if (want["is_meta"]) {
      CHECK(record.device == "meta");
      CHECK_FALSE(record.storage.has_value());
      REQUIRE(meta < findings.size());
      CHECK(findings[meta].code == "meta-checkpoint-entry");
      CHECK(findings[meta].severity == metaguard::Severity::Error);
      CHECK(findings[meta].tensor == want["name"].get<std::string>());
      CHECK_THAT(findings[meta].message, Catch::Contains("holds no data"));
      ++meta;
    } else {
      CHECK(record.storage.has_value());
      CHECK(record.storage_key != 0);
    }
  }
  CHECK(meta == findings.size());
  CHECK(meta == 10);
}

TEST_CASE("checkpoint fixtures: tied weights share one storage id", "[checkpoint][fixtures]") {
  CheckpointFile file = CheckpointFile::open(test::source_path("fixtures/checkpoints/good/tied.pt"));
  auto inventory = file.inventory();
  auto groups = inventory.shared_storage_groups();
  REQUIRE(groups.size() == 2);
  CHECK(groups[0] == std::vector<std::string>{"model.wte.weight", "model.lm_head.weight"});
  CHECK(groups[1] == std::vector<std::string>{"alias_a", "alias_b"});
  CHECK(inventory.find("model.wte.weight")->storage == inventory.find("model.lm_head.weight")->storage);
}

TEST_CASE("checkpoint fixtures: every bad file is one InputError naming the file and the problem",
          "[checkpoint][fixtures]") {
  auto files = test::checkpoint_fixtures("bad");
  REQUIRE(files.size() >= 20);
  for (const auto& path : files) {
    DYNAMIC_SECTION(path) {
      const json expected = test::sidecar(path);
      std::string message = "(no error)";
      bool opened = false;
      try {
        CheckpointFile file = CheckpointFile::open(path);
        opened = true;
        metaguard::scan_values(file);
      } catch (const InputError& error) {
        message = error.what();
      }
      // Only damage to tensor data hides from a metadata scan.
      CHECK(opened == expected["needs_check_values"].get<bool>());
      CHECK_THAT(message, Catch::StartsWith("'" + path + "': "));
      CHECK_THAT(message, Catch::Contains(expected["expected_problem"].get<std::string>()));
      CHECK(message.find('\n') == std::string::npos);
    }
  }
}
