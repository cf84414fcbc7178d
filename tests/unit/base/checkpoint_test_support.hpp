#pragma once
// Helpers shared by the checkpoint tests (unit, property, integration).
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/paths.hpp"
#include "support/scratch_dir.hpp"

namespace metaguard::test {

using TempDir = ScratchDir;

inline std::string read_binary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline void write_binary(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

inline std::string hex(const std::string& bytes) {
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// "good" or "bad": the fixture files (not the sidecars), sorted, as source-tree paths.
inline std::vector<std::string> checkpoint_fixtures(const std::string& folder) {
  std::string dir = source_path("fixtures/checkpoints/" + folder);
  std::vector<std::string> out;
  if (DIR* handle = ::opendir(dir.c_str())) {
    while (dirent* entry = ::readdir(handle)) {
      std::string name = entry->d_name;
      if (name == "." || name == ".." || name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0) continue;
      out.push_back(dir + "/" + name);
    }
    ::closedir(handle);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// PyTorch's view of a fixture, written beside it by make_fixtures.py.
inline nlohmann::json sidecar(const std::string& fixture) {
  return nlohmann::json::parse(read_binary(fixture + ".json"));
}

}  // namespace metaguard::test
