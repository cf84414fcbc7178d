#include "checkpoint/torch_checkpoint.hpp"

#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "checkpoint/dtype_table.hpp"
#include "checkpoint/file_error.hpp"
#include "checkpoint/pickle_flatten.hpp"
#include "checkpoint/pickle_reader.hpp"
#include "checkpoint/tensor_layout.hpp"

namespace metaguard {
namespace {

// "<archive>/data.pkl": torch.save names the folder after the file; any name is accepted,
// as PyTorch's reader does. The first such record in directory order wins.
std::string archive_prefix(const ZipArchive& archive) {
  auto ends_with = [](const std::string& name, const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  // torch.jit.save archives hold a data.pkl too, but of TorchScript objects.
  for (const auto& record : archive.records()) {
    if (record.name == "constants.pkl" || ends_with(record.name, "/constants.pkl")) {
      fail_file(archive.path(), "is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; "
                                "save the module's state_dict() with torch.save to scan it");
    }
  }
  for (const auto& record : archive.records()) {
    const std::string& name = record.name;
    size_t slash = name.find('/');
    if (slash != std::string::npos && slash > 0 && name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      return name.substr(0, slash + 1);
    }
  }
  fail_file(archive.path(), "has no <archive>/data.pkl record: not a torch.save checkpoint, or a damaged one");
}

}  // namespace

TorchCheckpoint::TorchCheckpoint(const std::string& path) : archive_(path) {
  contents_.format = "torch-zip";
  const std::string prefix = archive_prefix(archive_);
  // PyTorch >= 2.1 records the byte order of the storages; older files are little-endian.
  if (const ZipRecord* byteorder = archive_.find(prefix + "byteorder")) {
    std::string order = archive_.read(*byteorder, 64);
    if (order != "little") {
      fail_file(path, fmt::format("stores its tensors in '{}' byte order; metaguard reads little-endian "
                                  "checkpoints only", printable(order)));
    }
  }
  const ZipRecord* pickle_record = archive_.find(prefix + "data.pkl");
  std::string pickle = archive_.read(*pickle_record, kMaxPickleBytes);
  PickleDocument document = read_pickle(pickle, path);
  contents_.pickle_protocol = document.protocol;
  FlatPickle flat = flatten_pickle(document, path);
  contents_.metadata = std::move(flat.metadata);

  std::unordered_map<std::string, size_t> storage_by_key;
  for (const auto& entry : flat.tensors) {
    const PickleTensor& pickled = document.tensors[entry.tensor];
    const std::string name = printable(entry.name);
    CheckpointTensor tensor;
    tensor.name = entry.name;
    tensor.dtype = pickled.dtype;
    tensor.shape = pickled.shape;
    tensor.stride = pickled.stride;
    tensor.storage_offset = pickled.storage_offset;
    tensor.parameter = pickled.parameter;
    tensor.requires_grad = pickled.requires_grad;
    const int64_t element = dtype_by_name(tensor.dtype)->element_size;

    auto numel = checked_numel(tensor.shape);
    if (!numel) {
      fail_file(path, fmt::format("tensor '{}' has shape [{}], whose element count is negative or "
                                  "overflows 64 bits", name, fmt::join(tensor.shape, ", ")));
    }
    if (!checked_multiply(*numel, element)) {
      fail_file(path, fmt::format("tensor '{}' of shape [{}] would need more than 2^63 bytes", name,
                                  fmt::join(tensor.shape, ", ")));
    }
    tensor.numel = *numel;
    auto needed = required_storage_numel(tensor.shape, tensor.stride, tensor.storage_offset);
    if (!needed) {
      fail_file(path, fmt::format("tensor '{}' has an impossible layout (shape [{}], stride [{}], "
                                  "storage offset {})", name, fmt::join(tensor.shape, ", "),
                                  fmt::join(tensor.stride, ", "), tensor.storage_offset));
    }
    tensor.contiguous = is_contiguous(tensor.shape, tensor.stride);

    if (!pickled.storage) {
      tensor.device = "meta";
      contents_.tensors.push_back(std::move(tensor));
      continue;
    }
    const PickleStorage& declared = document.storages[*pickled.storage];
    auto [it, inserted] = storage_by_key.emplace(declared.key, contents_.storages.size());
    if (inserted) {
      CheckpointStorage storage;
      storage.key = declared.key;
      storage.record = prefix + "data/" + declared.key;
      storage.dtype = declared.dtype;
      storage.numel = declared.numel;
      storage.location = declared.location;
      const ZipRecord* record = archive_.find(storage.record);
      if (!record) {
        fail_file(path, fmt::format("tensor '{}' refers to storage record '{}', which the archive lacks",
                                    name, printable(storage.record)));
      }
      auto nbytes = checked_multiply(declared.numel, element);
      if (!nbytes || record->size < static_cast<uint64_t>(*nbytes)) {
        fail_file(path, fmt::format("storage record '{}' holds {} bytes, but data.pkl declares {} {} "
                                    "elements for tensor '{}'", printable(storage.record), record->size,
                                    declared.numel, declared.dtype, name));
      }
      storage.nbytes = *nbytes;
      storage.stored_size = record->size;
      storage.compressed = record->compressed;
      if (!record->compressed) storage.file_offset = record->data_offset;
      storage.crc32 = record->crc32;
      contents_.storages.push_back(std::move(storage));
      records_.push_back(record);
    }
    const CheckpointStorage& storage = contents_.storages[it->second];
    if (storage.dtype != declared.dtype || storage.numel != declared.numel) {
      fail_file(path, fmt::format("storage '{}' is declared as {} {} elements and, for tensor '{}', "
                                  "as {} {} elements", printable(storage.key), storage.numel, storage.dtype,
                                  name, declared.numel, declared.dtype));
    }
    if (*needed > storage.numel) {
      fail_file(path, fmt::format("tensor '{}' (shape [{}], stride [{}], storage offset {}) reaches element "
                                  "{} of its storage, which holds {} elements", name,
                                  fmt::join(tensor.shape, ", "), fmt::join(tensor.stride, ", "),
                                  tensor.storage_offset, *needed - 1, storage.numel));
    }
    tensor.storage = it->second;
    tensor.device = storage.location;
    contents_.tensors.push_back(std::move(tensor));
  }
}

std::unique_ptr<StorageStream> TorchCheckpoint::open_storage(size_t index) const {
  return archive_.open(*records_.at(index));
}

}  // namespace metaguard
