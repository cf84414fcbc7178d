#include "load/storage_reader.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "checkpoint/file_error.hpp"

namespace metaguard {
namespace {

// Big enough that syscalls cost nothing, small enough that a chunk is still in cache when
// its CRC is computed right after the read.
constexpr uint64_t kChunkBytes = 4ull << 20;

void pread_fully(int fd, char* destination, size_t size, uint64_t offset, const std::string& path,
                 const std::string& record) {
  size_t done = 0;
  while (done < size) {
    ssize_t got = ::pread(fd, destination + done, size - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      fail_file(path, fmt::format("cannot read storage '{}': {}", printable(record), std::strerror(errno)));
    }
    if (got == 0) {
      fail_file(path, fmt::format("ends inside storage '{}' (the file is truncated)", printable(record)));
    }
    done += static_cast<size_t>(got);
  }
}

std::string record_name(const CheckpointStorage& storage) {
  return storage.record.empty() ? storage.key : storage.record;
}

}  // namespace

StorageReader::StorageReader(const CheckpointFile& file) : file_(file) {
  fd_ = ::open(file.path().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail_file(file.path(), fmt::format("cannot read: {}", std::strerror(errno)));
}

StorageReader::~StorageReader() {
  if (fd_ >= 0) ::close(fd_);
}

bool StorageReader::direct(size_t index) const { return file_.storages().at(index).file_offset.has_value(); }

void StorageReader::read(size_t index, uint64_t begin, uint64_t end, char* destination) const {
  const CheckpointStorage& storage = file_.storages().at(index);
  check_range(storage, begin, end, begin, end);
  if (!storage.file_offset) {
    read_streamed(index, begin, end, destination);
    return;
  }
  // With a CRC to check, every byte of the record is read once; without one (safetensors),
  // only the range.
  if (!storage.crc32) {
    read_direct(index, begin, end, destination, begin, end, /*with_crc=*/false);
    return;
  }
  const uint32_t crc = read_direct(index, begin, end, destination, 0, storage.stored_size, /*with_crc=*/true);
  if (crc != *storage.crc32) {
    fail_file(file_.path(), fmt::format("storage record '{}' fails its CRC-32 check (the file is corrupt)",
                                        printable(record_name(storage))));
  }
}

std::optional<uint32_t> StorageReader::read_part(size_t index, uint64_t begin, uint64_t end, char* destination,
                                                 uint64_t span_begin, uint64_t span_end) const {
  const CheckpointStorage& storage = file_.storages().at(index);
  check_range(storage, begin, end, span_begin, span_end);
  if (!storage.file_offset || !storage.crc32) {
    read(index, begin, end, destination);  // streams deflated records (checked), or reads the range
    return std::nullopt;
  }
  return read_direct(index, begin, end, destination, span_begin, span_end, /*with_crc=*/true);
}

void StorageReader::check_range(const CheckpointStorage& storage, uint64_t begin, uint64_t end, uint64_t span_begin,
                                uint64_t span_end) const {
  const uint64_t limit = storage.file_offset ? storage.stored_size : static_cast<uint64_t>(storage.nbytes);
  if (begin > end || end > static_cast<uint64_t>(storage.nbytes) || span_begin > begin || span_end < end ||
      span_end > limit) {
    fail_file(file_.path(), fmt::format("bytes {}..{} asked of storage '{}', which holds {}", begin, end,
                                        printable(record_name(storage)), storage.nbytes));
  }
}

uint32_t StorageReader::read_direct(size_t index, uint64_t begin, uint64_t end, char* destination, uint64_t first,
                                    uint64_t last, bool with_crc) const {
  const CheckpointStorage& storage = file_.storages()[index];
  const std::string record = record_name(storage);
  std::unique_ptr<char[]> scratch;
  uLong crc = crc32(0L, Z_NULL, 0);
  for (uint64_t at = first; at < last;) {
    char* into = nullptr;
    uint64_t size = 0;
    if (at < begin) {
      size = std::min(kChunkBytes, begin - at);
    } else if (at < end) {
      size = std::min(kChunkBytes, end - at);
      into = destination + (at - begin);
    } else {
      size = std::min(kChunkBytes, last - at);
    }
    if (!into) {
      if (!scratch) scratch.reset(new char[kChunkBytes]);
      into = scratch.get();
    }
    pread_fully(fd_, into, static_cast<size_t>(size), *storage.file_offset + at, file_.path(), record);
    if (with_crc) crc = crc32(crc, reinterpret_cast<const Bytef*>(into), static_cast<uInt>(size));
    at += size;
  }
  return with_crc ? static_cast<uint32_t>(crc) : 0;
}

void StorageReader::read_streamed(size_t index, uint64_t begin, uint64_t end, char* destination) const {
  // The stream checks the CRC itself once read to its end, so it is always read to the end.
  std::unique_ptr<StorageStream> stream = file_.open_storage(index);
  std::vector<char> scratch(static_cast<size_t>(kChunkBytes));
  uint64_t at = 0;
  for (;;) {
    char* into = nullptr;
    uint64_t size = kChunkBytes;
    if (at < begin) {
      size = std::min(kChunkBytes, begin - at);
    } else if (at < end) {
      size = std::min(kChunkBytes, end - at);
      into = destination + (at - begin);
    }
    if (!into) into = scratch.data();
    size_t got = stream->read(into, static_cast<size_t>(size));
    if (got == 0) break;
    at += got;
  }
  if (at < end) {
    fail_file(file_.path(), fmt::format("storage record '{}' ends after {} of the {} bytes needed",
                                        printable(record_name(file_.storages()[index])), at, end));
  }
}

}  // namespace metaguard
