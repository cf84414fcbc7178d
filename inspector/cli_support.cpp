#include "cli_support.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

#include "core/atomic_file.hpp"
#include "core/atomic_output.hpp"
#include "core/errors.hpp"
#include "core/input_files.hpp"
#include "report/renderer.hpp"

namespace metaguard::cli {

po::typed_value<std::string>* output_path_value(std::string* out) {
  return po::value(out)->notifier([out](const std::string& path) {
    if (path.empty()) throw InputError("--out: the path is empty (use '-' or leave --out out for standard output)");
    if (path == "-") out->clear();
  });
}

void deliver_output(const std::string& out, const std::string& text) {
  if (out.empty()) {
    std::cout << text;
    std::cout.flush();
  } else {
    write_output_file(out, text);
  }
}

uint64_t parse_seed(const std::string& text) {
  const bool digits = !text.empty() && text.size() <= 20 &&
                      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  errno = 0;
  const unsigned long long value = digits ? std::strtoull(text.c_str(), nullptr, 10) : 0;
  if (!digits || errno == ERANGE) {
    throw InputError(fmt::format("--seed '{}': expected a whole number from 0 to 18446744073709551615", text));
  }
  return value;
}

namespace {

// Where the character class opening at glob[open] closes, read as fnmatch reads it: a
// leading '!' or '^' negates, a ']' right after that is a member, a backslash escapes the
// next character. npos: it never closes.
size_t class_end(const std::string& glob, size_t open) {
  size_t at = open + 1;
  if (at < glob.size() && (glob[at] == '!' || glob[at] == '^')) ++at;
  if (at < glob.size() && glob[at] == ']') ++at;
  while (at < glob.size() && glob[at] != ']') at += glob[at] == '\\' ? 2 : 1;
  return at < glob.size() ? at : std::string::npos;
}

// An empty glob matches nothing and an unclosed '[' only itself (fnmatch then takes it
// literally); either is a typo that would silently allow nothing.
void check_allow_glob(const std::string& glob) {
  if (glob.empty()) throw InputError("--allow: the pattern is empty");
  for (size_t at = 0; at < glob.size(); ++at) {
    if (glob[at] == '\\') {
      ++at;  // an escaped character, '[' included, is itself
    } else if (glob[at] == '[') {
      at = class_end(glob, at);
      if (at == std::string::npos) {
        throw InputError(fmt::format("--allow '{}': '[' opens a character class that is never closed", glob));
      }
    }
  }
}

// A plain function, not a lambda: GCC 12 warns of an uninitialized copy when
// boost::function holds a lambda without captures.
void check_allow_globs(const std::vector<std::string>& globs) {
  for (const auto& glob : globs) check_allow_glob(glob);
}

}  // namespace

const char* const kAllowHelp =
    "tensors matching this glob are expected as they are: findings become counted info (repeatable)";

po::typed_value<std::vector<std::string>>* allow_globs_value(std::vector<std::string>* globs) {
  return po::value(globs)->composing()->notifier(&check_allow_globs);
}

void add_output_options(po::options_description& options, OutputOptions& output, bool with_allow) {
  options.add_options()
      ("format", po::value(&output.format)->default_value("text"), "report format: text, json, md, html, junit")
      ("out", output_path_value(&output.out), "write the report to this file (atomically) instead of stdout ('-': stdout)")
      ("verbose", po::bool_switch(&output.verbose), "text format: list every finding, not one paragraph per problem");
  if (with_allow) {
    options.add_options()
        ("allow", allow_globs_value(&output.allow), kAllowHelp);
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
  auto renderer = make_renderer(output.format, output.verbose);
  deliver_output(output.out, renderer->render(report));
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
