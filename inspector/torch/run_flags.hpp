#pragma once
#include <string>
#include <vector>

#include "cli_support.hpp"

namespace metaguard::cli {

// The flags preflight and train share, defined once so their names, defaults and help
// agree: what is built (--model, --lora), what is broken on purpose (--inject) and the run
// seed (--seed, as text: parse_seed reads it), and how the frozen weights are laid out
// across ranks (--strategy).
struct RunFlags {
  std::string& model;
  std::string& lora;
  std::vector<std::string>& inject;
  std::string& seed;
  std::string& strategy;
};
void add_run_flags(po::options_description& flags, const RunFlags& values);

}  // namespace metaguard::cli
