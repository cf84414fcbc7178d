#include "cli_support.hpp"

#include <iostream>

#include <fmt/format.h>

#include "core/atomic_file.hpp"
#include "core/atomic_output.hpp"
#include "core/errors.hpp"
#include "core/input_files.hpp"
#include "report/renderer.hpp"

namespace metaguard::cli {

void add_output_options(po::options_description& options, OutputOptions& output, bool with_allow) {
  options.add_options()
      ("format", po::value(&output.format)->default_value("text"), "report format: text, json, md, html, junit")
      ("out", po::value(&output.out), "write the report to this file (atomically) instead of stdout");
  if (with_allow) {
    options.add_options()
        ("allow", po::value(&output.allow)->composing(),
         "tensors matching this glob are expected as they are: findings become counted info (repeatable)");
  }
}

bool parse_arguments(const std::string& command, const std::string& usage,
                     const std::vector<std::string>& args, po::options_description& options,
                     const po::positional_options_description& positionals,
                     po::variables_map& values) {
  options.add_options()("help,h", "show this help");
  try {
    po::store(po::command_line_parser(args)
                  .options(options)
                  .positional(positionals)
                  .style(po::command_line_style::unix_style ^ po::command_line_style::allow_guessing)
                  .run(),
              values);
    if (values.count("help")) {
      std::cout << "usage: " << usage << "\n\n" << options << "\n";
      return false;
    }
    po::notify(values);
  } catch (const po::error& error) {
    throw InputError(fmt::format("{}: {}", command, error.what()));
  }
  return true;
}

int emit_report(Report report, const OutputOptions& output) {
  apply_allow_globs(report.findings, output.allow);
  sort_findings(report.findings);
  auto renderer = make_renderer(output.format);
  std::string text = renderer->render(report);
  if (output.out.empty()) {
    std::cout << text;
    std::cout.flush();
  } else {
    write_output_file(output.out, text);
  }
  return report.exit_code();
}

void write_output_file(const std::string& out, const std::string& text) {
  if (is_input_file(resolve_output_path(out))) {
    throw InputError(fmt::format("--out: '{}' is one of this command's input files; choose another path", out));
  }
  write_file_atomically(out, text);
}

int input_error(const std::string& message) {
  std::cerr << "metaguard: error: " << message << "\n";
  return 2;
}

}  // namespace metaguard::cli
