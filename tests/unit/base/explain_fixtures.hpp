#pragma once
// A scratch directory for the explain tests, removed with everything in it at scope exit.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/report.hpp"
#include "report/report_json.hpp"

namespace metaguard::test {

class ScratchDir {
 public:
  ScratchDir() {
    char pattern[] = "/tmp/metaguard-explain-XXXXXX";
    const char* made = ::mkdtemp(pattern);
    path_ = made ? made : "";
  }
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  std::string write(const std::string& name, const std::string& contents) const {
    std::ofstream out(file(name), std::ios::binary);
    out << contents;
    return file(name);
  }
  std::string write_report(const std::string& name, const Report& report) const {
    return write(name, report_to_json(report).dump(1));
  }

 private:
  std::string path_;
};

}  // namespace metaguard::test
