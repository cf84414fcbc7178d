#include "core/input_files.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "core/errors.hpp"

namespace metaguard {
namespace {

std::mutex mutex;
std::set<std::pair<dev_t, ino_t>>& inputs() {
  static std::set<std::pair<dev_t, ino_t>> noted;
  return noted;
}

}  // namespace

void note_input_file(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return;
  std::lock_guard<std::mutex> lock(mutex);
  inputs().emplace(info.st_dev, info.st_ino);
}

bool is_input_file(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return false;
  std::lock_guard<std::mutex> lock(mutex);
  return inputs().count({info.st_dev, info.st_ino}) > 0;
}

std::string read_input_text(const std::string& path, std::uintmax_t max_bytes, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::exists(path, error)) throw InputError(fmt::format("{}: {} file does not exist", path, what));
  if (fs::is_directory(path, error)) throw InputError(fmt::format("{}: is a directory, not a {} file", path, what));
  auto size = fs::file_size(path, error);
  if (error) throw InputError(fmt::format("{}: cannot read {}: {}", path, what, error.message()));
  if (size > max_bytes) {
    throw InputError(fmt::format("{}: {} bytes is too large for a {} (at most {})", path, size, what, max_bytes));
  }
  note_input_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open {}: {}", path, what, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError(fmt::format("{}: cannot read {}", path, what));
  return text.str();
}

}  // namespace metaguard
