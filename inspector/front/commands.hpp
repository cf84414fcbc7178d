#pragma once
#include <string>
#include <vector>

// The front executable's subcommands, one file each in this folder.
namespace metaguard::cli {

int run_scan(const std::vector<std::string>& args);
int run_regress(const std::vector<std::string>& args);
int run_explain(const std::vector<std::string>& args);
int run_diff(const std::vector<std::string>& args);

// preflight and train need LibTorch: replace this process with `metaguard-torch`, found
// beside this executable. `args` starts with the command name.
int run_torch_helper(const std::vector<std::string>& args);

}  // namespace metaguard::cli
