#pragma once
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

// The output options shared by commands that produce a report.
struct OutputOptions {
  std::string format = "text";
  std::string out;  // empty: standard output
  std::vector<std::string> allow;
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
