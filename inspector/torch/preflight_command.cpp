#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli_support.hpp"
#include "core/errors.hpp"
#include "preflight/preflight_run.hpp"
#include "torch/run_flags.hpp"
#include "torch/torch_commands.hpp"

namespace metaguard::cli {

int run_preflight(const std::vector<std::string>& args) {
  PreflightOptions options;
  OutputOptions output;
  std::string init;
  std::string seed = std::to_string(options.seed);
  po::options_description flags("preflight options");
  add_run_flags(flags, {options.model, options.lora, options.inject, seed, options.strategy});
  flags.add_options()
      ("checkpoint", po::value<std::string>(), "checkpoint rank 0 loads (torch.save zip or safetensors; read as metadata only)")
      ("world-size", po::value(&options.world_size)->default_value(options.world_size), "number of ranks to simulate")
      ("init", po::value(&init), "meta or direct (default: meta when world size > 1 or a fault needs it)")
      ("offload", po::value(&options.offload)->composing(), "keep tensors matching this glob on meta on purpose (repeatable; pair with --allow)")
      ("repair", po::bool_switch(&options.repair), "repair at every guard point and check again")
      ("precision", po::value(&options.precision)->default_value(options.precision), "memory figures for LitGPT's --precision: 32-true, 16-true, bf16-true, 16-mixed, bf16-mixed")
      ("device", po::value(&options.device)->default_value(options.device), "memory figures per rank for: cpu, or cuda (one GPU per rank)")
      ("device-memory", po::value<std::string>(), "memory of one device, e.g. 80GiB: a rank that needs more is an error finding")
      ("micro-batch", po::value<int64_t>(), "sequences per rank per forward: with --seq-len, activations in the memory figures")
      ("seq-len", po::value<int64_t>(), "tokens per sequence: with --micro-batch, activations in the memory figures")
      ("threads", po::value(&options.threads)->default_value(options.threads), "threads for materialization and hashing");
  add_output_options(flags, output, /*with_allow=*/true);
  po::variables_map values;
  if (!parse_arguments("preflight", "metaguard preflight [options]", args, flags, {}, values)) return 0;
  options.seed = parse_seed(seed);
  if (values.count("checkpoint")) options.checkpoint = values["checkpoint"].as<std::string>();
  if (!init.empty()) options.init = init;
  if (values.count("device-memory")) options.device_memory = values["device-memory"].as<std::string>();
  if (values.count("micro-batch")) options.micro_batch = values["micro-batch"].as<int64_t>();
  if (values.count("seq-len")) options.seq_len = values["seq-len"].as<int64_t>();
  if (options.threads < 1) throw InputError("--threads: must be at least 1");
  return emit_report(run_preflight(options), output);
}

}  // namespace metaguard::cli
