#include "torch/run_flags.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)

#include "core/fault.hpp"

namespace metaguard::cli {

void add_run_flags(po::options_description& flags, std::string& model, std::string& lora,
                   std::vector<std::string>& inject, std::string& seed) {
  flags.add_options()
      ("model", po::value(&model)->default_value(model), "model name (fixtures/models, LitGPT's config names), config file or LitGPT checkpoint directory")
      ("lora", po::value(&lora)->default_value(lora), "LoRA spec: r=,alpha=,dropout=,targets=query+key+value+projection+mlp+head, or none (a plain GPT, every weight trains)")
      ("inject", po::value(&inject)->composing(),
       fmt::format("reproduce a root cause (repeatable): {}", fmt::join(fault_names(), ", ")).c_str())
      ("seed", po::value(&seed)->default_value(seed), "run seed: init recipes, data order, dropout");
}

}  // namespace metaguard::cli
