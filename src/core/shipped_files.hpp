#pragma once
#include <filesystem>
#include <string>
#include <vector>

// Where metaguard finds the files it ships (model configs, the training corpus, the
// regression scenarios and the checkpoints they use), wherever it was started from.
namespace metaguard {

// The running executable's path, from /proc/self/exe; empty when it cannot be read.
std::filesystem::path executable_path();

// Existing folders that may hold the shipped `subdir` ("models", "data", "scenarios",
// "checkpoints"), most specific first, without duplicates: $<override_env>, then beside
// the running executable as installed (<prefix>/share/metaguard/<subdir>) and as built in a
// folder of the source tree (<source>/fixtures/<subdir>), then $METAGUARD_SOURCE_DIR/fixtures.
std::vector<std::filesystem::path> shipped_dirs(const std::string& subdir, const char* override_env);

}  // namespace metaguard
