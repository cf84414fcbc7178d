// metaguard-torch: the LibTorch-linked half of metaguard. The front (`metaguard`) execs
// this for the commands that need live tensors, so that the others never pay LibTorch's
// start-up. Same exit codes as the front (CONTRACT.md).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <c10/util/Exception.h>

#include "cli_support.hpp"
#include "core/errors.hpp"
#include "torch/torch_commands.hpp"

namespace {

int run_command(const std::vector<std::string>& args) {
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

}  // namespace

int main(int argc, char** argv) {
  const int exit_code = run_command(std::vector<std::string>(argv + 1, argv + argc));
  // Every report and file is written (atomically) and closed by now. Leaving without the
  // exit handlers skips the static destructors of LibTorch's ~290 libraries, about 50 ms
  // of a 0.45 s preflight; nothing of metaguard's runs in them.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(exit_code);
}
