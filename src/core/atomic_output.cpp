#include "core/atomic_output.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/hashing.hpp"

namespace metaguard {
namespace {

std::string directory_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

[[noreturn]] void fail_write(const std::string& path, const char* what, int error) {
  throw InputError(fmt::format("cannot write '{}': {}: {}", path, what, std::strerror(error)));
}

// Whether process `pid` still runs (on this machine).
bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

// This machine, in temporary names: whether a writer is alive can only be asked here.
const std::string& host_tag() {
  static const std::string tag = [] {
    char name[256] = {};
    if (::gethostname(name, sizeof(name) - 1) != 0) name[0] = '\0';
    return fmt::format("{:08x}", static_cast<uint32_t>(fnv1a64(name)));
  }();
  return tag;
}

bool all_digits(const std::string& text) {
  return !text.empty() && text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos;
}

// The writer's pid in a temporary name "<file>.tmp.<pid>.<n>.<host>" (`rest` is what follows
// "<file>.tmp."), or -1 when the name is not of that shape or another machine's. A further
// ".<suffix>" is a temporary file of that temporary file: libzip writes beside its name.
long writer_of(const std::string& rest) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (parts.size() < 3) {
    size_t dot = rest.find('.', start);
    parts.push_back(rest.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (parts.size() < 3 || !all_digits(parts[0]) || !all_digits(parts[1]) || parts[2] != host_tag()) return -1;
  return std::stol(parts[0]);
}

// Temporary files of `path` left by writers on this machine killed before their rename
// (SIGKILL, power loss): "<path>.tmp.<pid>.<n>.<host>" whose process is gone. Removed after each successful commit,
// so an interrupted save leaves nothing behind once the next one succeeds.
void remove_abandoned_temp_files(const std::string& path) {
  const std::string prefix = path.substr(path.find_last_of('/') + 1) + ".tmp.";
  DIR* dir = ::opendir(directory_of(path).c_str());
  if (!dir) return;
  const long self = static_cast<long>(::getpid());
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    long writer = writer_of(name.substr(prefix.size()));
    if (writer > 0 && writer != self && !process_alive(writer)) ::unlinkat(::dirfd(dir), name.c_str(), 0);
  }
  ::closedir(dir);
}

// The switch: rename the flushed temporary file over `path`, make the rename durable (fsync
// the directory; best effort), then clear what killed writers of `path` left behind.
void rename_durably(const std::string& temp, const std::string& path) {
  if (::rename(temp.c_str(), path.c_str()) != 0) fail_write(path, "rename", errno);
  int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  remove_abandoned_temp_files(path);
}

}  // namespace

std::string temp_path_of(const std::string& path, long pid, unsigned number) {
  return fmt::format("{}.tmp.{}.{}.{}", path, pid, number, host_tag());
}

std::string temp_path_beside(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return temp_path_of(path, static_cast<long>(::getpid()), counter++);
}

void commit_temp_file(const std::string& temp, const std::string& requested) {
  const std::string path = resolve_output_path(requested);
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
    ::unlink(temp.c_str());
    fail_write(requested, "not a regular file", EINVAL);
  }
  int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_write(path, "reopen temporary file", errno);
  if (::fsync(fd) != 0) {
    int error = errno;
    ::close(fd);
    fail_write(path, "flush", error);
  }
  ::close(fd);
  rename_durably(temp, path);
}

std::string resolve_output_path(const std::string& path) {
  std::string resolved = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat info {};
    if (::lstat(resolved.c_str(), &info) != 0 || !S_ISLNK(info.st_mode)) return resolved;
    char target[PATH_MAX];
    ssize_t length = ::readlink(resolved.c_str(), target, sizeof(target) - 1);
    if (length <= 0) return resolved;
    std::string next(target, static_cast<size_t>(length));
    resolved = next.front() == '/' ? next : directory_of(resolved) + "/" + next;
  }
  throw InputError(fmt::format("cannot write '{}': too many levels of symbolic links", path));
}

AtomicOutputFile::AtomicOutputFile(std::string path) : path_(resolve_output_path(path)) {
  struct stat info {};
  const bool exists = ::stat(path_.c_str(), &info) == 0;
  if (exists && S_ISDIR(info.st_mode)) fail_write(path, "it is a directory", EISDIR);
  if (exists && !S_ISREG(info.st_mode)) {
    direct_ = true;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd_ < 0) fail_write(path_, "open", errno);
    return;
  }
  temp_ = temp_path_beside(path_);
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_write(path_, "create temporary file", errno);
  if (exists) ::fchmod(fd_, info.st_mode & 07777);  // the replacement keeps the file's permissions
}

AtomicOutputFile::~AtomicOutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !direct_) ::unlink(temp_.c_str());
}

void AtomicOutputFile::fail(const char* what) {
  int error = errno;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  fail_write(path_, what, error);
}

void AtomicOutputFile::write(std::string_view bytes) {
  if (fd_ < 0) fail_write(path_, "write after close", EBADF);
  const char* data = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t written = ::write(fd_, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    data += written;
    left -= static_cast<size_t>(written);
  }
}

void AtomicOutputFile::commit() {
  if (fd_ < 0) fail_write(path_, "commit after close", EBADF);
  if (direct_) {
    committed_ = true;
    if (::close(fd_) != 0) {
      fd_ = -1;
      fail_write(path_, "close", errno);
    }
    fd_ = -1;
    return;
  }
  if (::fsync(fd_) != 0) fail("flush");
  if (::close(fd_) != 0) {
    fd_ = -1;
    fail_write(path_, "close", errno);
  }
  fd_ = -1;
  rename_durably(temp_, path_);
  committed_ = true;
}

}  // namespace metaguard
