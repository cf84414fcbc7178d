#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace metaguard {

// One central-directory record, with the 64-bit values of zip64 archives resolved.
struct ZipDirectoryEntry {
  std::string name;
  uint64_t local_header_offset = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint16_t method = 0;
  uint32_t crc32 = 0;
};

// Reads a zip's central directory from the open file `fd` of `file_size` bytes. libzip is
// the archive's reader; it does not say where a record's bytes start in the file, which a
// loader needs to read a storage straight into a tensor. This small reader exists for that
// and nothing else: ZipArchive cross-checks it against libzip. Every offset and count is
// checked against the file's size before use. Throws InputError naming `path`.
std::vector<ZipDirectoryEntry> read_zip_directory(int fd, uint64_t file_size, const std::string& path);

// The absolute offset of the entry's first data byte: after its local header, whose name and
// extra-field lengths may differ from the central directory's (torch.save pads the local
// extra field to align data to 64 bytes). Checks that the data fits in the file.
uint64_t zip_data_offset(int fd, uint64_t file_size, const ZipDirectoryEntry& entry, const std::string& path);

}  // namespace metaguard
