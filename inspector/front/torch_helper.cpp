#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "front/commands.hpp"

namespace metaguard::cli {
namespace {

std::string own_directory() {
  char path[PATH_MAX];
  ssize_t length = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (length <= 0) return ".";
  std::string self(path, static_cast<size_t>(length));
  return self.substr(0, self.find_last_of('/'));
}

}  // namespace

int run_torch_helper(const std::vector<std::string>& args) {
  std::string helper = own_directory() + "/metaguard-torch";
  std::vector<std::string> storage;
  storage.push_back(helper);
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  ::execv(helper.c_str(), argv.data());
  // Only reached when exec failed.
  throw InputError(fmt::format("'{}' needs the LibTorch helper '{}', which cannot be started: {}",
                               args.front(), helper, std::strerror(errno)));
}

}  // namespace metaguard::cli
