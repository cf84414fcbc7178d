#include "checkpoint/checkpoint_reader.hpp"
#include "core/input_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "checkpoint/dtype_table.hpp"
#include "checkpoint/file_error.hpp"
#include "checkpoint/safetensors_file.hpp"
#include "checkpoint/torch_checkpoint.hpp"

namespace metaguard {
namespace {

enum class Sniffed { Zip, Safetensors, LegacyPickle, LegacyTar, Unknown, Empty };

// The first bytes of torch.save's legacy format: a pickled LONG1 of its magic number
// 0x1950a86a20f9469cfc6c, little-endian.
constexpr unsigned char kLegacyMagic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                          0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

Sniffed sniff(const std::string& path, std::string& head) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
    fail_file(path, "not a regular file (a checkpoint is a file)");  // a FIFO would block forever
  }
  note_input_file(path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_file(path, fmt::format("cannot read: {}", std::strerror(errno)));
  head.assign(512, '\0');
  size_t done = 0;
  while (done < head.size()) {
    ssize_t got = ::read(fd, head.data() + done, head.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int error = errno;
      ::close(fd);
      fail_file(path, fmt::format("cannot read: {}", std::strerror(error)));
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  head.resize(done);
  if (head.empty()) return Sniffed::Empty;
  if (head.size() >= 4 && head[0] == 'P' && head[1] == 'K' &&
      ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6))) {
    return Sniffed::Zip;
  }
  if (head.size() > 8 && head[8] == '{') return Sniffed::Safetensors;
  if (static_cast<unsigned char>(head[0]) == 0x80 &&
      head.find(std::string(reinterpret_cast<const char*>(kLegacyMagic), sizeof kLegacyMagic)) < 32) {
    return Sniffed::LegacyPickle;
  }
  if (head.size() >= 262 && head.compare(257, 5, "ustar") == 0) return Sniffed::LegacyTar;
  return Sniffed::Unknown;
}

std::string hex_prefix(const std::string& head) {
  std::string out;
  for (size_t i = 0; i < head.size() && i < 8; ++i) {
    out += fmt::format("{}{:02x}", i ? " " : "", static_cast<unsigned char>(head[i]));
  }
  return out;
}

}  // namespace

CheckpointFile CheckpointFile::open(const std::string& path) {
  std::string head;
  switch (sniff(path, head)) {
    case Sniffed::Zip: return CheckpointFile(path, std::make_unique<TorchCheckpoint>(path));
    case Sniffed::Safetensors: return CheckpointFile(path, std::make_unique<SafetensorsFile>(path));
    case Sniffed::Empty: fail_file(path, "is empty (0 bytes): not a checkpoint");
    case Sniffed::LegacyPickle:
    case Sniffed::LegacyTar:
      fail_file(path, fmt::format(
                          "is in PyTorch's legacy (pre-1.6) serialization format, which metaguard does "
                          "not read; re-save it as a zip checkpoint with PyTorch >= 1.6: "
                          "torch.save(torch.load('{0}', map_location='cpu'), 'resaved.pt') "
                          "(only for a file you trust: torch.load runs its pickle)", path));
    case Sniffed::Unknown: break;
  }
  fail_file(path, fmt::format("is not a torch.save (zip) or safetensors checkpoint (it starts with "
                              "bytes {})", hex_prefix(head)));
}

Inventory CheckpointFile::inventory() const {
  Inventory inventory;
  for (const auto& tensor : tensors()) {
    TensorRecord record;
    record.name = tensor.name;
    record.kind = TensorKind::CheckpointEntry;
    record.dtype = tensor.dtype;
    record.shape = tensor.shape;
    record.device = tensor.device;
    record.numel = tensor.numel;
    record.nbytes = tensor.numel * dtype_by_name(tensor.dtype)->element_size;  // checked on open
    record.storage_offset = tensor.storage_offset;
    record.contiguous = tensor.contiguous;
    record.requires_grad = std::nullopt;
    record.storage_key = tensor.storage ? static_cast<uint64_t>(*tensor.storage) + 1 : 0;
    inventory.add(std::move(record));
  }
  inventory.assign_storage_ids();
  return inventory;
}

std::vector<Finding> CheckpointFile::meta_findings() const {
  std::vector<Finding> findings;
  for (const auto& tensor : tensors()) {
    if (!tensor.is_meta()) continue;
    Finding finding;
    finding.code = "meta-checkpoint-entry";
    finding.severity = Severity::Error;
    finding.tensor = tensor.name;
    finding.message = fmt::format(
        "checkpoint entry '{}' is a meta tensor: the file holds no data for it (it was saved while "
        "still on the meta device, e.g. a model built with device='meta' or init_empty_weights and "
        "saved before its weights were loaded or initialized)", tensor.name);
    finding.hint =
        "materialize the tensor before saving (load or initialize it, e.g. to_empty() then "
        "reset_parameters()) and re-save the checkpoint; loading this file leaves it uninitialized";
    findings.push_back(std::move(finding));
  }
  return findings;
}

}  // namespace metaguard
