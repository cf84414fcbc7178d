#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/shipped_files.hpp"
#include "front/commands.hpp"

namespace metaguard::cli {

int run_torch_helper(const std::vector<std::string>& args) {
  std::filesystem::path self = executable_path();
  std::string helper = (self.empty() ? std::filesystem::path(".") : self.parent_path()) / "metaguard-torch";
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
