#include "torch/run_flags.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (in fmt/format.h before fmt 11)

#include "core/fault.hpp"

namespace metaguard::cli {

void add_run_flags(po::options_description& flags, const RunFlags& values) {
  flags.add_options()
      ("model", po::value(&values.model)->default_value(values.model), "model name (fixtures/models, LitGPT's config names), config file or LitGPT checkpoint directory")
      ("lora", po::value(&values.lora)->default_value(values.lora), "LoRA spec: r=,alpha=,dropout=,targets=query+key+value+projection+mlp+head, or none (a plain GPT, every weight trains)")
      ("inject", po::value(&values.inject)->composing(),
       fmt::format("reproduce a root cause (repeatable): {}", fmt::join(fault_names(), ", ")).c_str())
      ("seed", po::value(&values.seed)->default_value(values.seed), "run seed: init recipes, data order, dropout")
      ("strategy", po::value(&values.strategy)->default_value(values.strategy), "replicate every weight on every rank, or shard the frozen base weights across ranks (FSDP-style: each rank holds a slice, blocks are all-gathered as they run)");
}

}  // namespace metaguard::cli
