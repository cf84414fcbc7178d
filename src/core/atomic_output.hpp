#pragma once
#include <string>
#include <string_view>

namespace metaguard {

// A file written in pieces that appears at `path` all at once: bytes go to a temporary file
// beside it; commit() fsyncs it, renames it over `path` and fsyncs the directory. Until
// then (a crash, an exception) the previous file at `path` stays intact, and the destructor
// removes the temporary file. write_file_atomically (atomic_file.hpp) is the one-string case.
//
// Where `path` is a symbolic link, the file it points to is replaced (the link stays);
// where it is a device or a FIFO (/dev/stdout, /dev/null), the bytes are written straight
// into it, since a rename would replace the device node itself. A replaced file keeps its
// permission bits.
class AtomicOutputFile {
 public:
  // Throws InputError "cannot write '<path>': ..." when the temporary file cannot be made.
  explicit AtomicOutputFile(std::string path);
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  void write(std::string_view bytes);
  void commit();
  const std::string& temp_path() const { return temp_; }

 private:
  [[noreturn]] void fail(const char* what);

  std::string path_;  // the file that will hold the bytes (symbolic links resolved)
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
  bool direct_ = false;  // writing straight into a device or FIFO
};

// Makes `path`'s replacement durable: fsync the file at `temp`, rename it to `path`, fsync
// the directory; then removes temporary files of `path` whose writer process is gone (a
// save killed mid-write). Throws InputError naming `path`.
void commit_temp_file(const std::string& temp, const std::string& path);

// Follows symbolic links at `path` to the file they name (which need not exist yet).
std::string resolve_output_path(const std::string& path);

// A temporary name beside `path`, unique within this machine's processes and threads:
// "<path>.tmp.<pid>.<n>.<host>" (the host as 8 hex digits of its name's hash, so a commit
// only removes temporary files of dead writers on its own machine).
std::string temp_path_beside(const std::string& path);
// The temporary name writer `pid` uses for its `number`th file (tests name dead writers).
std::string temp_path_of(const std::string& path, long pid, unsigned number);

}  // namespace metaguard
