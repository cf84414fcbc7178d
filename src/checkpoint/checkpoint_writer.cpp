#include "checkpoint/checkpoint_writer.hpp"

#include <unistd.h>
#include <zip.h>

#include <ctime>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/atomic_output.hpp"
#include "checkpoint/dtype_table.hpp"
#include "checkpoint/file_error.hpp"
#include "checkpoint/pickle_writer.hpp"
#include "checkpoint/tensor_layout.hpp"

namespace metaguard {
namespace {

constexpr const char* kArchive = "archive/";
constexpr time_t kFixedTime = 1704067200;  // 2024-01-01: reproducible archives

DtypeInfo checked_dtype(const std::string& path, const std::string& dtype, const std::string& what) {
  auto info = dtype_by_name(dtype);
  if (!info) fail_file(path, fmt::format("{} has unknown dtype '{}'", what, printable(dtype)));
  return *info;
}

void validate(const std::string& path, const std::vector<WriteStorage>& storages,
              const std::vector<WriteTensor>& tensors) {
  for (size_t s = 0; s < storages.size(); ++s) {
    DtypeInfo info = checked_dtype(path, storages[s].dtype, fmt::format("storage {}", s));
    if (storages[s].bytes.size() % static_cast<size_t>(info.element_size) != 0) {
      fail_file(path, fmt::format("storage {} holds {} bytes, not a whole number of {} elements", s,
                                  storages[s].bytes.size(), info.name));
    }
    const std::string& location = storages[s].location;
    if (location.empty() || location.size() > 64 || printable(location) != location) {
      fail_file(path, fmt::format("storage {} has location '{}', not a device name", s, printable(location)));
    }
  }
  std::set<std::string> names;
  for (const auto& tensor : tensors) {
    const std::string what = fmt::format("tensor '{}'", printable(tensor.name));
    if (!valid_utf8(tensor.name) || !names.insert(tensor.name).second) {
      fail_file(path, fmt::format("{}: names must be unique UTF-8 text", what));
    }
    DtypeInfo info = checked_dtype(path, tensor.dtype, what);
    auto needed = required_storage_numel(tensor.shape, tensor.stride, tensor.storage_offset);
    if (!needed) {
      fail_file(path, fmt::format("{} has an impossible layout (shape [{}], stride [{}], offset {})", what,
                                  fmt::join(tensor.shape, ", "), fmt::join(tensor.stride, ", "),
                                  tensor.storage_offset));
    }
    if (!tensor.storage) continue;
    if (*tensor.storage >= storages.size()) fail_file(path, fmt::format("{} names a missing storage", what));
    const WriteStorage& storage = storages[*tensor.storage];
    if (storage.dtype != tensor.dtype) {
      fail_file(path, fmt::format("{} is {} but its storage holds {}", what, tensor.dtype, storage.dtype));
    }
    auto numel = static_cast<int64_t>(storage.bytes.size()) / info.element_size;
    if (*needed > numel) {
      fail_file(path, fmt::format("{} needs {} elements of a storage that holds {}", what, *needed, numel));
    }
  }
}

std::string pickle_state_dict(const std::vector<WriteStorage>& storages, const std::vector<WriteTensor>& tensors) {
  PickleWriter pickle;
  pickle.global("collections", "OrderedDict");
  pickle.empty_tuple();
  pickle.reduce();
  // SETITEMS in batches of 1000 pairs, as Python's pickler does.
  for (size_t first = 0; first < tensors.size(); first += 1000) {
    pickle.mark();
    for (size_t t = first; t < tensors.size() && t < first + 1000; ++t) {
      const WriteTensor& tensor = tensors[t];
      pickle.string(tensor.name);
      if (!tensor.storage) {
        pickle.global("torch._utils", "_rebuild_meta_tensor_no_storage");
        pickle.mark();
        pickle.global("torch", tensor.dtype);
        pickle.tuple_of_ints(tensor.shape);
        pickle.tuple_of_ints(tensor.stride);
        pickle.boolean(false);
        pickle.tuple_from_mark();
        pickle.reduce();
        continue;
      }
      const WriteStorage& storage = storages[*tensor.storage];
      DtypeInfo info = *dtype_by_name(storage.dtype);
      pickle.global("torch._utils", "_rebuild_tensor_v2");
      pickle.mark();
      pickle.mark();  // the persistent id
      pickle.string("storage");
      pickle.global("torch", info.storage_type);
      pickle.string(std::to_string(*tensor.storage));
      pickle.string(storage.location);
      pickle.integer(static_cast<int64_t>(storage.bytes.size()) / info.element_size);
      pickle.tuple_from_mark();
      pickle.persistent_id();
      pickle.integer(tensor.storage_offset);
      pickle.tuple_of_ints(tensor.shape);
      pickle.tuple_of_ints(tensor.stride);
      pickle.boolean(false);  // requires_grad: state dicts hold detached tensors
      pickle.global("collections", "OrderedDict");  // backward hooks: always empty
      pickle.empty_tuple();
      pickle.reduce();
      pickle.tuple_from_mark();
      pickle.reduce();
    }
    pickle.set_items();
  }
  pickle.stop();
  return pickle.bytes();
}

// Owns a libzip archive being written; discards it (and the temporary file) unless closed.
class ZipWriter {
 public:
  ZipWriter(const std::string& temp, const std::string& path) : temp_(temp), path_(path) {
    int code = 0;
    archive_ = zip_open(temp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
    if (!archive_) {
      zip_error_t error;
      zip_error_init_with_code(&error, code);
      std::string message = zip_error_strerror(&error);
      zip_error_fini(&error);
      fail_file(path, "cannot create the archive: " + message);
    }
  }
  ~ZipWriter() {
    if (archive_) zip_discard(archive_);
    if (!closed_) ::unlink(temp_.c_str());
  }
  ZipWriter(const ZipWriter&) = delete;
  ZipWriter& operator=(const ZipWriter&) = delete;

  void add(const std::string& name, std::string_view bytes) {
    zip_source_t* source = zip_source_buffer(archive_, bytes.empty() ? nullptr : bytes.data(), bytes.size(), 0);
    if (!source) fail("buffer " + name);
    zip_int64_t index = zip_file_add(archive_, name.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      fail("add " + name);
    }
    auto i = static_cast<zip_uint64_t>(index);
    if (zip_set_file_compression(archive_, i, ZIP_CM_STORE, 0) != 0 ||
        zip_file_set_mtime(archive_, i, kFixedTime, 0) != 0) {
      fail("configure " + name);
    }
  }

  void close() {
    if (zip_close(archive_) != 0) fail("write");
    archive_ = nullptr;  // closed: libzip freed it
    closed_ = true;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    fail_file(path_, fmt::format("cannot {}: {}", what, zip_strerror(archive_)));
  }
  std::string temp_;
  std::string path_;
  zip_t* archive_ = nullptr;
  bool closed_ = false;
};

}  // namespace

WriteTensor whole_storage_tensor(std::string name, std::string dtype, std::vector<int64_t> shape, size_t storage) {
  WriteTensor tensor;
  tensor.name = std::move(name);
  tensor.dtype = std::move(dtype);
  tensor.stride = contiguous_strides(shape);
  tensor.shape = std::move(shape);
  tensor.storage = storage;
  return tensor;
}

void write_torch_checkpoint(const std::string& path, const std::vector<WriteStorage>& storages,
                            const std::vector<WriteTensor>& tensors) {
  validate(path, storages, tensors);
  const std::string pickle = pickle_state_dict(storages, tensors);
  const std::string temp = temp_path_beside(resolve_output_path(path));
  {
    ZipWriter zip(temp, path);
    zip.add(std::string(kArchive) + "data.pkl", pickle);  // first: PyTorch names the archive by it
    for (size_t s = 0; s < storages.size(); ++s) {
      zip.add(fmt::format("{}data/{}", kArchive, s), storages[s].bytes);
    }
    zip.add(std::string(kArchive) + "version", "3\n");
    zip.close();
    try {
      commit_temp_file(temp, path);
    } catch (...) {
      ::unlink(temp.c_str());
      throw;
    }
  }
}

}  // namespace metaguard
