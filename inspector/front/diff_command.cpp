// `metaguard diff A.json B.json`: tensors whose state or provenance differ between two
// reports. Exit code as diff(1): 0 when they agree, 1 when they differ, 2 for unreadable or
// malformed input.
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli_support.hpp"
#include "core/atomic_file.hpp"
#include "core/errors.hpp"
#include "explain/report_diff.hpp"
#include "explain/run_reader.hpp"
#include "front/commands.hpp"

namespace metaguard::cli {
namespace {

// "rank1.json (rank 1)" when the report says which rank it is.
std::string label(const std::string& file, const Report& report) {
  auto rank = report.extra.find("rank");
  if (rank != report.extra.end() && rank->is_number_integer()) {
    return fmt::format("{} (rank {})", file, rank->get<int64_t>());
  }
  return file;
}

}  // namespace

int run_diff(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  std::string format = "text";
  std::string out;
  po::options_description options("diff options");
  options.add_options()
      ("reports", po::value(&files)->composing(), "the two report files to compare (A, then B)")
      ("format", po::value(&format)->default_value("text"), "output format: text, json")
      ("out", output_path_value(&out), "write the differences to this file (atomically) instead of stdout ('-': stdout)");
  po::positional_options_description positionals;
  positionals.add("reports", -1);
  po::variables_map values;
  if (!parse_arguments("diff", "metaguard diff A.json B.json [--format text|json] [--out FILE]", args, options,
                       positionals, values)) {
    return 0;
  }
  if (files.size() != 2) {
    throw InputError(fmt::format("diff: expected two report files (A.json B.json), got {}", files.size()));
  }
  require_diff_format(format);  // before any file is read

  Report a = read_report_file(files[0]);
  Report b = read_report_file(files[1]);
  ReportDiff diff = diff_reports(a, b, label(files[0], a), label(files[1], b));
  std::string text = render_diff(diff, format);
  deliver_output(out, text);
  return diff.exit_code();
}

}  // namespace metaguard::cli
