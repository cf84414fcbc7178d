#pragma once
#include <string>
#include <vector>

// The commands metaguard-torch runs, one file each in this folder.
namespace metaguard::cli {

int run_preflight(const std::vector<std::string>& args);
int run_train(const std::vector<std::string>& args);

}  // namespace metaguard::cli
