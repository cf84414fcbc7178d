#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "core/report.hpp"

namespace metaguard::cli {

namespace po = boost::program_options;

// What every subcommand's entry point looks like: arguments after the subcommand name.
using CommandMain = int (*)(const std::vector<std::string>& args);

struct CommandSpec {
  const char* name;
  const char* summary;
  CommandMain run;
};

// The --out option of a command that writes a document: FILE, or '-' for standard output
// (as when absent); an empty path is refused rather than taken as "standard output".
po::typed_value<std::string>* output_path_value(std::string* out);

// Writes a command's document to `out` (atomically; see write_output_file) or, when `out` is
// empty, to standard output.
void deliver_output(const std::string& out, const std::string& text);

// A run seed, taken as text from the command line: a decimal number from 0 to 2^64-1
// (Boost would read "-1" into an unsigned as 2^64-1).
uint64_t parse_seed(const std::string& text);

// --allow GLOB (repeatable), each checked when parsed: see check_allow_glob.
po::typed_value<std::vector<std::string>>* allow_globs_value(std::vector<std::string>* globs);
extern const char* const kAllowHelp;

// The output options shared by commands that produce a report.
struct OutputOptions {
  std::string format = "text";
  std::string out;  // empty: standard output
  std::vector<std::string> allow;
  bool verbose = false;  // text: every finding on its own, not one paragraph per problem
};
void add_output_options(po::options_description& options, OutputOptions& output, bool with_allow);

// Parses `args` against `options` (and positionals). Throws InputError with a message that
// names the flag on any problem. Returns false when --help was asked for (help printed).
bool parse_arguments(const std::string& command, const std::string& usage,
                     const std::vector<std::string>& args, po::options_description& options,
                     const po::positional_options_description& positionals,
                     po::variables_map& values);

// Applies --allow, renders in the chosen format and writes to --out (atomically) or stdout.
// Returns the exit code the report calls for (0 or 1).
int emit_report(Report report, const OutputOptions& output);

// Writes a command's output to --out (atomically), refusing a path that is one of the
// files the command read: `scan ck.pt --out ck.pt` must not turn a checkpoint into a report.
void write_output_file(const std::string& out, const std::string& text);

// Prints "metaguard: error: <message>" on stderr; returns 2.
int input_error(const std::string& message);

}  // namespace metaguard::cli
