// metaguard-torch: the LibTorch-linked half of metaguard. The front (`metaguard`) execs
// this for the commands that need live tensors, so that the others never pay LibTorch's
// start-up. Same exit codes as the front (CONTRACT.md).
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <c10/util/Exception.h>

#include "cli_support.hpp"
#include "core/errors.hpp"
#include "torch/torch_commands.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return metaguard::cli::input_error("metaguard-torch: expected a command (preflight or train)");
  std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    if (args.front() == "preflight") return metaguard::cli::run_preflight(rest);
    if (args.front() == "train") return metaguard::cli::run_train(rest);
    return metaguard::cli::input_error("unknown command '" + args.front() + "'");
  } catch (const metaguard::InputError& error) {
    return metaguard::cli::input_error(error.what());
  } catch (const c10::Error& error) {
    std::cerr << "metaguard: internal error (a bug, please report it): " << error.what_without_backtrace() << "\n";
    return 3;
  } catch (const std::exception& error) {
    std::cerr << "metaguard: internal error (a bug, please report it): " << error.what() << "\n";
    return 3;
  }
}
