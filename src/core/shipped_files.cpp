#include "core/shipped_files.hpp"

#include <algorithm>
#include <cstdlib>

namespace metaguard {
namespace fs = std::filesystem;

fs::path executable_path() {
  std::error_code error;
  fs::path exe = fs::read_symlink("/proc/self/exe", error);
  return error ? fs::path() : exe;
}

std::vector<fs::path> shipped_dirs(const std::string& subdir, const char* override_env) {
  std::vector<fs::path> candidates;
  if (const char* env = override_env ? std::getenv(override_env) : nullptr; env && *env) candidates.emplace_back(env);
  if (fs::path exe = executable_path(); !exe.empty()) {
    candidates.push_back(exe.parent_path() / ".." / "share" / "metaguard" / subdir);
    candidates.push_back(exe.parent_path() / ".." / "fixtures" / subdir);
  }
  if (const char* env = std::getenv("METAGUARD_SOURCE_DIR"); env && *env) {
    candidates.push_back(fs::path(env) / "fixtures" / subdir);
  }
  std::vector<fs::path> dirs;
  for (const auto& dir : candidates) {
    std::error_code error;
    if (!fs::is_directory(dir, error)) continue;
    fs::path normal = fs::weakly_canonical(dir, error);
    if (error) normal = dir.lexically_normal();
    if (std::find(dirs.begin(), dirs.end(), normal) == dirs.end()) dirs.push_back(normal);
  }
  return dirs;
}

}  // namespace metaguard
