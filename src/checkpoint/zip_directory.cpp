#include "checkpoint/zip_directory.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "checkpoint/file_error.hpp"

namespace metaguard {
namespace {

constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint32_t kCentralSignature = 0x02014b50;
constexpr uint32_t kLocalSignature = 0x04034b50;
constexpr size_t kEndSize = 22;
constexpr size_t kZip64EndSize = 56;
constexpr size_t kZip64LocatorSize = 20;
constexpr size_t kCentralSize = 46;
constexpr size_t kLocalSize = 30;
constexpr size_t kMaxComment = 0xffff;

uint64_t le(const unsigned char* p, size_t width) {
  uint64_t value = 0;
  for (size_t i = width; i-- > 0;) value = (value << 8) | p[i];
  return value;
}

std::string read_at(int fd, uint64_t offset, size_t size, const std::string& path) {
  std::string out(size, '\0');
  size_t done = 0;
  while (done < size) {
    ssize_t got = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail_file(path, fmt::format("cannot read: {}", std::strerror(errno)));
    if (got == 0) fail_file(path, "is shorter than its zip directory says (truncated)");
    done += static_cast<size_t>(got);
  }
  return out;
}

const unsigned char* bytes(const std::string& s, size_t at = 0) {
  return reinterpret_cast<const unsigned char*>(s.data()) + at;
}

struct EndRecord {
  uint64_t entries = 0;
  uint64_t directory_size = 0;
  uint64_t directory_offset = 0;
  uint64_t directory_end = 0;  // where the directory must end (the end record's position)
};

EndRecord find_end_record(int fd, uint64_t file_size, const std::string& path) {
  if (file_size < kEndSize) fail_file(path, "is too short to be a zip archive");
  size_t tail_size = static_cast<size_t>(std::min<uint64_t>(file_size, kEndSize + kMaxComment));
  uint64_t tail_start = file_size - tail_size;
  std::string tail = read_at(fd, tail_start, tail_size, path);
  for (size_t i = tail_size - kEndSize + 1; i-- > 0;) {
    if (le(bytes(tail, i), 4) != kEndSignature) continue;
    EndRecord end;
    end.entries = le(bytes(tail, i + 10), 2);
    end.directory_size = le(bytes(tail, i + 12), 4);
    end.directory_offset = le(bytes(tail, i + 16), 4);
    end.directory_end = tail_start + i;
    uint64_t locator_at = end.directory_end >= kZip64LocatorSize ? end.directory_end - kZip64LocatorSize : 0;
    if (end.directory_end >= kZip64LocatorSize) {
      std::string locator = read_at(fd, locator_at, kZip64LocatorSize, path);
      if (le(bytes(locator), 4) == kZip64LocatorSignature) {
        uint64_t zip64_at = le(bytes(locator, 8), 8);
        if (zip64_at > locator_at || locator_at - zip64_at < kZip64EndSize) {
          fail_file(path, "has a zip64 end record outside the file");
        }
        std::string record = read_at(fd, zip64_at, kZip64EndSize, path);
        if (le(bytes(record), 4) != kZip64EndSignature) fail_file(path, "has a damaged zip64 end record");
        end.entries = le(bytes(record, 32), 8);
        end.directory_size = le(bytes(record, 40), 8);
        end.directory_offset = le(bytes(record, 48), 8);
        end.directory_end = zip64_at;
      }
    }
    if (end.directory_offset > end.directory_end || end.directory_size > end.directory_end - end.directory_offset) {
      fail_file(path, "has a zip directory outside the file (truncated or damaged)");
    }
    if (end.entries > end.directory_size / kCentralSize) {
      fail_file(path, "has a zip directory that claims more records than it can hold");
    }
    return end;
  }
  fail_file(path, "is not a zip archive (no end of central directory record: truncated or damaged)");
}

}  // namespace

std::vector<ZipDirectoryEntry> read_zip_directory(int fd, uint64_t file_size, const std::string& path) {
  EndRecord end = find_end_record(fd, file_size, path);
  std::string directory = read_at(fd, end.directory_offset, static_cast<size_t>(end.directory_size), path);
  std::vector<ZipDirectoryEntry> entries;
  entries.reserve(static_cast<size_t>(end.entries));  // bounded by directory_size / 46 above
  size_t at = 0;
  for (uint64_t n = 0; n < end.entries; ++n) {
    if (directory.size() - at < kCentralSize || le(bytes(directory, at), 4) != kCentralSignature) {
      fail_file(path, fmt::format("has a damaged zip directory (record {})", n));
    }
    const unsigned char* p = bytes(directory, at);
    ZipDirectoryEntry entry;
    entry.method = static_cast<uint16_t>(le(p + 10, 2));
    entry.crc32 = static_cast<uint32_t>(le(p + 16, 4));
    entry.compressed_size = le(p + 20, 4);
    entry.size = le(p + 24, 4);
    size_t name_length = le(p + 28, 2);
    size_t extra_length = le(p + 30, 2);
    size_t comment_length = le(p + 32, 2);
    entry.local_header_offset = le(p + 42, 4);
    if (directory.size() - at - kCentralSize < name_length + extra_length + comment_length) {
      fail_file(path, fmt::format("has a damaged zip directory (record {} overruns it)", n));
    }
    entry.name.assign(directory, at + kCentralSize, name_length);
    // zip64 extra field: the 64-bit values of the fields set to 0xffffffff, in this order.
    size_t extra = at + kCentralSize + name_length;
    size_t extra_end = extra + extra_length;
    while (extra_end - extra >= 4) {
      uint64_t id = le(bytes(directory, extra), 2);
      size_t length = le(bytes(directory, extra + 2), 2);
      size_t field = extra + 4;
      if (extra_end - field < length) break;  // a malformed tail: libzip decides about it
      if (id == 0x0001) {
        size_t field_end = field + length;
        size_t cursor = field;
        auto take = [&](uint64_t& value) {
          if (value != 0xffffffffULL) return;
          if (field_end - cursor < 8) fail_file(path, "has a damaged zip64 extra field");
          value = le(bytes(directory, cursor), 8);
          cursor += 8;
        };
        take(entry.size);
        take(entry.compressed_size);
        take(entry.local_header_offset);
      }
      extra = field + length;
    }
    entries.push_back(std::move(entry));
    at += kCentralSize + name_length + extra_length + comment_length;
  }
  return entries;
}

uint64_t zip_data_offset(int fd, uint64_t file_size, const ZipDirectoryEntry& entry, const std::string& path) {
  if (entry.local_header_offset > file_size || file_size - entry.local_header_offset < kLocalSize) {
    fail_file(path, fmt::format("zip record '{}' starts outside the file (truncated)", printable(entry.name)));
  }
  std::string header = read_at(fd, entry.local_header_offset, kLocalSize, path);
  if (le(bytes(header), 4) != kLocalSignature) {
    fail_file(path, fmt::format("zip record '{}' has a damaged local header", printable(entry.name)));
  }
  uint64_t data = entry.local_header_offset + kLocalSize + le(bytes(header, 26), 2) + le(bytes(header, 28), 2);
  if (data > file_size || file_size - data < entry.compressed_size) {
    fail_file(path, fmt::format("zip record '{}' extends past the end of the file (truncated)",
                                printable(entry.name)));
  }
  return data;
}

}  // namespace metaguard
