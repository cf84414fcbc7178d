#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "checkpoint/checkpoint_entry.hpp"

struct zip;

namespace metaguard {

// One record of a zip archive.
struct ZipRecord {
  std::string name;
  uint64_t index = 0;             // libzip's index
  uint64_t size = 0;              // uncompressed bytes
  uint64_t compressed_size = 0;   // bytes in the file
  bool compressed = false;        // not stored as is
  uint32_t crc32 = 0;
  uint64_t data_offset = 0;       // absolute offset of the record's bytes in the file
};

// A read-only zip archive (zip64 included), opened with libzip. Lists records with their
// sizes and the absolute offset of their bytes, and reads records through libzip, which
// inflates compressed ones and checks every record's CRC-32 once it has been read to the end.
// Not thread-safe; streams must not outlive the archive.
class ZipArchive {
 public:
  // Throws InputError "'<path>': <what>" when the file is unreadable, not a zip archive,
  // damaged, encrypted, or holds two records of one name.
  explicit ZipArchive(const std::string& path);
  ~ZipArchive();
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  const std::vector<ZipRecord>& records() const { return records_; }
  const ZipRecord* find(std::string_view name) const;

  // The whole record, CRC-checked. Refuses records whose size exceeds `max_size` (before
  // allocating anything) with a message that names the record.
  std::string read(const ZipRecord& record, uint64_t max_size) const;

  // Streams the record's bytes in order; the CRC-32 is checked when the end is reached.
  std::unique_ptr<StorageStream> open(const ZipRecord& record) const;

 private:
  std::string path_;
  uint64_t file_size_ = 0;
  zip* archive_ = nullptr;
  std::vector<ZipRecord> records_;
  std::unordered_map<std::string, size_t> by_name_;
};

}  // namespace metaguard
