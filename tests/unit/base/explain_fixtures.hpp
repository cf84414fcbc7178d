#pragma once
// A scratch directory for the explain tests, removed with everything in it at scope exit.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/report.hpp"
#include "support/scratch_dir.hpp"
#include "report/report_json.hpp"

namespace metaguard::test {

// A report written into a scratch directory; returns its path.
inline std::string write_report(const ScratchDir& dir, const std::string& name, const Report& report) {
  return dir.write(name, report_to_json(report).dump(1));
}

}  // namespace metaguard::test
