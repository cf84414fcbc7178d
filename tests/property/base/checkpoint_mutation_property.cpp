// Properties of the checkpoint readers and writer:
//  - a valid file mutated any way (truncated, bytes flipped, ranges spliced from other files
//    or random) either reads consistently or fails with one InputError line naming the
//    file; nothing else escapes (no crash, no std::bad_alloc, no other exception);
//  - the same for data.pkl alone, mutated, through the unpickler and the flattening;
//  - whatever the writer is given, the reader gives back the same layout and bytes.
// The sanitizer build (tests/sanitize) runs these under AddressSanitizer and UBSan.
#include <catch2/catch.hpp>
#include <rapidcheck/catch.h>

#include <cmath>
#include <cstring>
#include <sys/stat.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/checkpoint_writer.hpp"
#include "checkpoint/dtype_table.hpp"
#include "checkpoint/pickle_flatten.hpp"
#include "checkpoint/pickle_reader.hpp"
#include "checkpoint/tensor_layout.hpp"
#include "checkpoint/torch_checkpoint.hpp"
#include "checkpoint/value_scan.hpp"
#include "core/errors.hpp"
#include "unit/base/checkpoint_test_support.hpp"

namespace {

using metaguard::CheckpointFile;
using metaguard::InputError;
namespace test = metaguard::test;

const std::vector<std::string>& good_fixture_bytes() {
  static const std::vector<std::string> files = [] {
    std::vector<std::string> out;
    for (const auto& path : test::checkpoint_fixtures("good")) out.push_back(test::read_binary(path));
    return out;
  }();
  return files;
}

std::string mutate(std::string bytes) {
  const auto& others = good_fixture_bytes();
  const int kind = *rc::gen::inRange(0, 4);
  const size_t size = bytes.size();
  if (kind == 0) {  // truncate
    bytes.resize(*rc::gen::inRange<size_t>(0, size));
  } else if (kind == 1) {  // flip a few bytes anywhere
    const int flips = *rc::gen::inRange(1, 6);
    for (int i = 0; i < flips; ++i) {
      size_t at = *rc::gen::inRange<size_t>(0, size);
      bytes[at] = static_cast<char>(bytes[at] ^ *rc::gen::inRange(1, 256));
    }
  } else if (kind == 2) {  // splice a range of another valid file over a range of this one
    const std::string& other = others[*rc::gen::inRange<size_t>(0, others.size())];
    size_t from = *rc::gen::inRange<size_t>(0, other.size());
    size_t length = *rc::gen::inRange<size_t>(0, std::min<size_t>(other.size() - from, 512) + 1);
    size_t at = *rc::gen::inRange<size_t>(0, size);
    size_t replaced = *rc::gen::inRange<size_t>(0, std::min<size_t>(size - at, 512) + 1);
    bytes.replace(at, replaced, other, from, length);
  } else {  // random bytes over a range, possibly growing the file
    size_t at = *rc::gen::inRange<size_t>(0, size);
    auto noise = *rc::gen::container<std::vector<char>>(*rc::gen::inRange<size_t>(1, 64), rc::gen::arbitrary<char>());
    bytes.replace(at, std::min(noise.size(), size - at), noise.data(), noise.size());
  }
  return bytes;
}

// Reads `path` like `metaguard scan --check-values`. Either everything is consistent, or
// the only failure is one InputError line that names the file.
void check_read(const std::string& path) {
  try {
    CheckpointFile file = CheckpointFile::open(path);
    struct stat info {};
    ::stat(path.c_str(), &info);
    const auto file_size = static_cast<uint64_t>(info.st_size);
    for (const auto& tensor : file.tensors()) {
      auto needed = metaguard::required_storage_numel(tensor.shape, tensor.stride, tensor.storage_offset);
      RC_ASSERT(needed.has_value());
      if (tensor.is_meta()) continue;
      RC_ASSERT(*tensor.storage < file.storages().size());
      RC_ASSERT(*needed <= file.storages()[*tensor.storage].numel);
    }
    for (const auto& storage : file.storages()) {
      RC_ASSERT(static_cast<uint64_t>(storage.nbytes) <= storage.stored_size);
      if (storage.file_offset) RC_ASSERT(*storage.file_offset + storage.stored_size <= file_size);
    }
    (void)file.contents().metadata.dump();  // valid UTF-8 throughout
    (void)file.inventory();
    metaguard::scan_values(file, 64);
  } catch (const InputError& error) {
    const std::string message = error.what();
    RC_ASSERT(message.rfind("'" + path + "': ", 0) == 0);
    RC_ASSERT(message.find('\n') == std::string::npos);
  }
}

}  // namespace

TEST_CASE("checkpoint property: mutated checkpoints fail cleanly or read consistently", "[checkpoint][property]") {
  test::TempDir dir;
  REQUIRE(good_fixture_bytes().size() >= 14);
  rc::prop("truncate, flip, splice, overwrite", [&] {
    const auto& files = good_fixture_bytes();
    const std::string& original = files[*rc::gen::inRange<size_t>(0, files.size())];
    const std::string path = dir.file("mutated.pt");
    test::write_binary(path, mutate(original));
    check_read(path);
  });
}

TEST_CASE("checkpoint property: mutated data.pkl fails cleanly or flattens", "[checkpoint][property]") {
  static const std::vector<std::string> pickles = [] {
    std::vector<std::string> out;
    for (const auto& path : test::checkpoint_fixtures("good")) {
      if (path.size() > 12 && path.compare(path.size() - 12, 12, ".safetensors") == 0) continue;
      metaguard::ZipArchive archive(path);
      for (const auto& record : archive.records()) {
        if (record.name.size() >= 8 && record.name.compare(record.name.size() - 8, 8, "data.pkl") == 0) {
          out.push_back(archive.read(record, 1 << 20));
        }
      }
    }
    return out;
  }();
  REQUIRE(pickles.size() >= 12);
  rc::prop("mutated pickles", [&] {
    std::string data = pickles[*rc::gen::inRange<size_t>(0, pickles.size())];
    const int edits = *rc::gen::inRange(1, 4);
    for (int i = 0; i < edits && !data.empty(); ++i) {
      size_t at = *rc::gen::inRange<size_t>(0, data.size());
      switch (*rc::gen::inRange(0, 3)) {
        case 0: data[at] = *rc::gen::arbitrary<char>(); break;
        case 1: data.erase(at, *rc::gen::inRange<size_t>(1, 16)); break;
        default: data.insert(at, data.substr(*rc::gen::inRange<size_t>(0, data.size()), 8)); break;
      }
    }
    try {
      auto document = metaguard::read_pickle(data, "m.pt");
      auto flat = metaguard::flatten_pickle(document, "m.pt");
      (void)flat.metadata.dump();
    } catch (const InputError& error) {
      RC_ASSERT(std::string(error.what()).rfind("'m.pt': ", 0) == 0);
    }
  });
}

TEST_CASE("checkpoint property: what the writer writes, the reader reads back", "[checkpoint][property]") {
  test::TempDir dir;
  rc::prop("random state dicts with shared storages and views", [&] {
    static const char* const kDtypes[] = {"float32", "float64", "float16", "bfloat16", "int8", "uint8",
                                          "int16", "int32", "int64", "bool", "complex64", "complex128"};
    std::vector<std::string> buffers;  // owns the bytes; reserved so views stay valid
    buffers.reserve(16);
    std::vector<metaguard::WriteStorage> storages;
    std::vector<metaguard::WriteTensor> tensors;
    const int count = *rc::gen::inRange(0, 10);
    for (int t = 0; t < count; ++t) {
      metaguard::WriteTensor tensor;
      tensor.name = "layer" + std::to_string(t) + ".weight";
      const int rank = *rc::gen::inRange(0, 4);
      for (int d = 0; d < rank; ++d) {
        tensor.shape.push_back(*rc::gen::inRange<int64_t>(0, 5));
        tensor.stride.push_back(*rc::gen::inRange<int64_t>(0, 7));
      }
      tensor.storage_offset = *rc::gen::inRange<int64_t>(0, 5);
      const bool meta = *rc::gen::inRange(0, 8) == 0;
      int64_t needed = *metaguard::required_storage_numel(tensor.shape, tensor.stride, tensor.storage_offset);
      // Reuse an earlier storage when one is big enough, else make one.
      std::optional<size_t> reuse;
      if (*rc::gen::arbitrary<bool>()) {
        for (size_t s = 0; s < storages.size(); ++s) {
          int64_t element = metaguard::dtype_by_name(storages[s].dtype)->element_size;
          if (static_cast<int64_t>(storages[s].bytes.size()) / element >= needed) reuse = s;
        }
      }
      if (meta) {
        tensor.dtype = kDtypes[*rc::gen::inRange(0, 12)];
      } else if (reuse) {
        tensor.dtype = storages[*reuse].dtype;
        tensor.storage = *reuse;
      } else if (buffers.size() < buffers.capacity()) {
        tensor.dtype = kDtypes[*rc::gen::inRange(0, 12)];
        int64_t element = metaguard::dtype_by_name(tensor.dtype)->element_size;
        int64_t numel = needed + *rc::gen::inRange<int64_t>(0, 4);
        auto noise = *rc::gen::container<std::string>(static_cast<size_t>(numel * element), rc::gen::arbitrary<char>());
        buffers.push_back(std::move(noise));
        storages.push_back({tensor.dtype, buffers.back()});
        tensor.storage = storages.size() - 1;
      } else {
        continue;
      }
      tensors.push_back(std::move(tensor));
    }
    const std::string path = dir.file("written.pt");
    metaguard::write_torch_checkpoint(path, storages, tensors);
    CheckpointFile file = CheckpointFile::open(path);
    const std::string raw = test::read_binary(path);
    RC_ASSERT(file.tensors().size() == tensors.size());
    for (size_t t = 0; t < tensors.size(); ++t) {
      const auto& got = file.tensors()[t];
      RC_ASSERT(got.name == tensors[t].name);
      RC_ASSERT(got.dtype == tensors[t].dtype);
      RC_ASSERT(got.shape == tensors[t].shape);
      RC_ASSERT(got.stride == tensors[t].stride);
      RC_ASSERT(got.is_meta() == !tensors[t].storage.has_value());
      if (got.is_meta()) continue;
      RC_ASSERT(got.storage_offset == tensors[t].storage_offset);
      const auto& storage = file.storages()[*got.storage];
      RC_ASSERT(storage.file_offset.has_value());
      RC_ASSERT(raw.compare(*storage.file_offset, storage.nbytes, storages[*tensors[t].storage].bytes) == 0);
      // Tensors share a storage exactly when the writer was told they do.
      for (size_t u = 0; u < t; ++u) {
        if (file.tensors()[u].is_meta()) continue;
        RC_ASSERT((file.tensors()[u].storage == got.storage) == (tensors[u].storage == tensors[t].storage));
      }
    }
    metaguard::scan_values(file, 32);  // reads every record to its CRC
  });
}
