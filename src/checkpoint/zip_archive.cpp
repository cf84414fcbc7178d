#include "checkpoint/zip_archive.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "checkpoint/file_error.hpp"
#include "checkpoint/zip_directory.hpp"

namespace metaguard {
namespace {

std::string libzip_message(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

std::string open_error(int code) {
  switch (code) {
    case ZIP_ER_NOZIP: return "is not a zip archive (no end of central directory record: truncated or damaged)";
    case ZIP_ER_INCONS: return "is a damaged zip archive (its directory is inconsistent)";
    case ZIP_ER_MEMORY: return "is a zip archive too large for memory";
    default: return fmt::format("cannot be opened as a zip archive: {}", libzip_message(code));
  }
}

// Reads a record through libzip. A CRC mismatch surfaces when the last byte has been read.
class ZipRecordStream : public StorageStream {
 public:
  ZipRecordStream(zip* archive, const ZipRecord& record, const std::string& path)
      : record_(record), path_(path) {
    file_ = zip_fopen_index(archive, record.index, 0);
    if (!file_) {
      fail_file(path_, fmt::format("cannot read zip record '{}': {}", printable(record.name),
                                   zip_strerror(archive)));
    }
  }
  ~ZipRecordStream() override {
    if (file_) zip_fclose(file_);
  }
  ZipRecordStream(const ZipRecordStream&) = delete;
  ZipRecordStream& operator=(const ZipRecordStream&) = delete;

  size_t read(char* buffer, size_t size) override {
    if (size == 0) return 0;
    zip_int64_t got = zip_fread(file_, buffer, size);
    if (got < 0) {
      int code = zip_error_code_zip(zip_file_get_error(file_));
      if (code == ZIP_ER_CRC) {
        fail_file(path_, fmt::format("zip record '{}' fails its CRC-32 check (the file is corrupt)",
                                     printable(record_.name)));
      }
      fail_file(path_, fmt::format("cannot read zip record '{}': {} (the file is corrupt)",
                                   printable(record_.name), zip_file_strerror(file_)));
    }
    done_ += static_cast<uint64_t>(got);
    if (got == 0 && done_ != record_.size) {
      fail_file(path_, fmt::format("zip record '{}' ends after {} of its {} bytes (the file is corrupt)",
                                   printable(record_.name), done_, record_.size));
    }
    return static_cast<size_t>(got);
  }

 private:
  zip_file_t* file_ = nullptr;
  const ZipRecord& record_;
  const std::string& path_;
  uint64_t done_ = 0;
};

}  // namespace

ZipArchive::ZipArchive(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_file(path, fmt::format("cannot read: {}", std::strerror(errno)));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) fail_file(path, fmt::format("cannot read: {}", std::strerror(errno)));
  if (!S_ISREG(info.st_mode)) fail_file(path, "is not a regular file");
  file_size_ = static_cast<uint64_t>(info.st_size);

  int code = 0;
  archive_ = zip_open(path.c_str(), ZIP_RDONLY, &code);
  if (!archive_) fail_file(path, open_error(code));

  try {
    // libzip reads the archive; our own directory reader adds where each record's bytes
    // start. The two must agree record for record.
    std::vector<ZipDirectoryEntry> directory = read_zip_directory(fd, file_size_, path);
    zip_int64_t count = zip_get_num_entries(archive_, 0);
    if (count < 0 || static_cast<uint64_t>(count) != directory.size()) {
      fail_file(path, "has a zip directory that libzip reads differently (damaged)");
    }
    records_.reserve(directory.size());
    for (uint64_t i = 0; i < directory.size(); ++i) {
      zip_stat_t stat;
      zip_stat_init(&stat);
      if (zip_stat_index(archive_, i, ZIP_FL_ENC_RAW, &stat) != 0) {
        fail_file(path, fmt::format("cannot read zip record {}: {}", i, zip_strerror(archive_)));
      }
      const ZipDirectoryEntry& entry = directory[i];
      if (!(stat.valid & ZIP_STAT_NAME) || entry.name != stat.name || entry.size != stat.size ||
          entry.compressed_size != stat.comp_size) {
        fail_file(path, fmt::format("zip record '{}' is described differently by libzip (damaged)",
                                    printable(entry.name)));
      }
      if ((stat.valid & ZIP_STAT_ENCRYPTION_METHOD) && stat.encryption_method != ZIP_EM_NONE) {
        fail_file(path, fmt::format("zip record '{}' is encrypted", printable(entry.name)));
      }
      if (entry.method == 0 && entry.size != entry.compressed_size) {
        fail_file(path, fmt::format("zip record '{}' is stored with two different sizes (damaged)",
                                    printable(entry.name)));
      }
      ZipRecord record;
      record.name = entry.name;
      record.index = i;
      record.size = entry.size;
      record.compressed_size = entry.compressed_size;
      record.compressed = entry.method != 0;
      record.crc32 = entry.crc32;
      record.data_offset = zip_data_offset(fd, file_size_, entry, path);
      if (!by_name_.emplace(record.name, records_.size()).second) {
        fail_file(path, fmt::format("holds two zip records named '{}'", printable(record.name)));
      }
      records_.push_back(std::move(record));
    }
  } catch (...) {
    zip_discard(archive_);
    throw;
  }
}

ZipArchive::~ZipArchive() {
  if (archive_) zip_discard(archive_);
}

const ZipRecord* ZipArchive::find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &records_[it->second];
}

std::string ZipArchive::read(const ZipRecord& record, uint64_t max_size) const {
  if (record.size > max_size) {
    fail_file(path_, fmt::format("zip record '{}' claims {} bytes, more than the {} metaguard reads",
                                 printable(record.name), record.size, max_size));
  }
  // A stored record cannot be larger than the file; a deflated one at most ~1032x its input.
  uint64_t plausible = record.compressed ? record.compressed_size * 1100 + 1024 : record.compressed_size;
  if (record.size > plausible) {
    fail_file(path_, fmt::format("zip record '{}' claims {} bytes from {} stored ones (damaged)",
                                 printable(record.name), record.size, record.compressed_size));
  }
  std::string out(static_cast<size_t>(record.size), '\0');
  ZipRecordStream stream(archive_, record, path_);
  size_t done = 0;
  while (done < out.size()) {
    size_t got = stream.read(out.data() + done, out.size() - done);
    if (got == 0) break;  // the stream reports a short record itself
    done += got;
  }
  char probe = 0;
  if (stream.read(&probe, 1) != 0) {  // also reaches the end, so the CRC is checked
    fail_file(path_, fmt::format("zip record '{}' holds more bytes than it declares", printable(record.name)));
  }
  return out;
}

std::unique_ptr<StorageStream> ZipArchive::open(const ZipRecord& record) const {
  return std::make_unique<ZipRecordStream>(archive_, record, path_);
}

}  // namespace metaguard
