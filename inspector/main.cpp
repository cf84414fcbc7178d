// metaguard: finds tensors stuck on the meta device (or never initialized), explains how
// they got there, and repairs them. This is the front: global flags, the dispatch table,
// and the one place that turns exceptions into exit codes (CONTRACT.md).
#include <unistd.h>

#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli_support.hpp"
#include "core/errors.hpp"
#include "front/commands.hpp"

namespace {

using metaguard::cli::CommandSpec;

const std::vector<CommandSpec>& command_table() {
  static const std::vector<CommandSpec> table = {
      {"scan", "list a checkpoint's tensors without loading them; flag meta entries",
       metaguard::cli::run_scan},
      {"preflight", "build the model for N ranks as the trainer will and check every phase",
       metaguard::cli::run_torch_helper},
      {"train", "run the guarded multi-rank LoRA trainer", metaguard::cli::run_torch_helper},
      {"regress", "run the regression scenarios", metaguard::cli::run_regress},
      {"explain", "tell the story of a failed run from its reports", metaguard::cli::run_explain},
      {"diff", "list tensors whose state or provenance differ between two reports",
       metaguard::cli::run_diff},
  };
  return table;
}

void print_help(std::ostream& out) {
  out << "usage: metaguard <command> [options]\n"
         "       metaguard --help | --version\n\n"
         "Finds tensors stuck on PyTorch's meta device or never initialized, explains how\n"
         "they got there, and repairs them.\n\ncommands:\n";
  for (const auto& command : command_table()) {
    out << fmt::format("  {:<10} {}\n", command.name, command.summary);
  }
  out << "\nRun 'metaguard <command> --help' (or 'metaguard help <command>') for a command's options.\n"
         "Exit codes: 0 clean, 1 an error finding remains, 2 usage or input error, 3 internal failure.\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return metaguard::cli::input_error("missing command (run 'metaguard --help' for the list)");
  if (args.size() >= 2 && args.front() == "help") args = {args[1], "--help"};  // `metaguard help scan`
  const std::string& first = args.front();
  if (first == "--help" || first == "-h" || first == "help") {
    print_help(std::cout);
    return 0;
  }
  if (first == "--version") {
    std::cout << "metaguard " << METAGUARD_VERSION << "\n";
#ifdef METAGUARD_LIBTORCH
    std::cout << "built with " << METAGUARD_LIBTORCH << "\n"
              << "collective backends: " << METAGUARD_BACKENDS << "\n";
#else
    std::cout << "built without LibTorch (preflight and train unavailable)\n";
#endif
    return 0;
  }
  for (const auto& command : command_table()) {
    if (first != command.name) continue;
    try {
      if (command.run == metaguard::cli::run_torch_helper) {
        return metaguard::cli::run_torch_helper(args);  // keeps the command name
      }
      return command.run(std::vector<std::string>(args.begin() + 1, args.end()));
    } catch (const metaguard::InputError& error) {
      return metaguard::cli::input_error(error.what());
    } catch (const std::exception& error) {
      std::cerr << "metaguard: internal error (a bug, please report it): " << error.what() << "\n";
      return 3;
    }
  }
  return metaguard::cli::input_error(fmt::format("unknown {} '{}' (run 'metaguard --help' for the commands)",
                                                first.rfind("-", 0) == 0 ? "option" : "command", first));
}
