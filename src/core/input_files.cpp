#include "core/input_files.hpp"

#include <sys/stat.h>

#include <mutex>
#include <set>
#include <utility>

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

}  // namespace metaguard
