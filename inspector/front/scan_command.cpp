// `metaguard scan FILE`: lists a checkpoint's tensors from its metadata (never loading
// LibTorch, never reading tensor data unless --check-values asks for it) and flags entries
// saved on the meta device.
#include <string>
#include <vector>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/value_scan.hpp"
#include "cli_support.hpp"
#include "core/errors.hpp"
#include "front/commands.hpp"
#include "report/renderer.hpp"

namespace metaguard::cli {

int run_scan(const std::vector<std::string>& args) {
  OutputOptions output;
  std::string file;
  bool check_values = false;
  po::options_description options("scan options");
  options.add_options()
      ("file", po::value(&file), "the checkpoint: a torch.save file (.pt, .pth, .bin) or .safetensors; "
                                 "recognised by content (also the first positional argument)")
      ("check-values", po::bool_switch(&check_values),
       "also read the tensor data: verify every record's CRC-32 and flag NaN/Inf (nonfinite-values)");
  add_output_options(options, output, /*with_allow=*/true);
  po::positional_options_description positionals;
  positionals.add("file", 1);
  po::variables_map values;
  const std::string usage =
      "metaguard scan FILE [--format F] [--out PATH] [--check-values] [--allow GLOB]...";
  if (!parse_arguments("scan", usage, args, options, positionals, values)) return 0;
  if (file.empty()) throw InputError("scan: missing FILE (usage: " + usage + ")");
  make_renderer(output.format);  // an unknown --format fails before any work

  CheckpointFile checkpoint = CheckpointFile::open(file);
  Report report;
  report.command = "scan";
  report.source = file;
  report.tensors = checkpoint.inventory().tensors();
  report.findings = checkpoint.meta_findings();
  if (check_values) {
    ValueScan scan = scan_values(checkpoint);
    auto nonfinite = nonfinite_findings(checkpoint, scan);
    report.findings.insert(report.findings.end(), nonfinite.begin(), nonfinite.end());
  }
  const CheckpointContents& contents = checkpoint.contents();
  report.extra["checkpoint"] = {
      {"format", contents.format},
      {"storages", contents.storages.size()},
      {"values_checked", check_values},
  };
  if (contents.format == "torch-zip") report.extra["checkpoint"]["pickle_protocol"] = contents.pickle_protocol;
  // Where each storage's bytes are, for tools that read them directly (ids as in "tensors").
  nlohmann::json storages = nlohmann::json::array();
  for (size_t s = 0; s < contents.storages.size(); ++s) {
    const CheckpointStorage& storage = contents.storages[s];
    std::string id;
    for (size_t t = 0; t < contents.tensors.size() && id.empty(); ++t) {
      if (contents.tensors[t].storage == s) id = report.tensors[t].storage.value_or("");
    }
    storages.push_back({{"id", id}, {"key", storage.key}, {"record", storage.record}, {"dtype", storage.dtype},
                        {"numel", storage.numel}, {"nbytes", storage.nbytes}, {"location", storage.location},
                        {"file_offset", storage.file_offset ? nlohmann::json(*storage.file_offset) : nlohmann::json()},
                        {"compressed", storage.compressed}});
  }
  report.extra["storages"] = std::move(storages);
  if (!contents.metadata.empty()) report.extra["metadata"] = contents.metadata;
  return emit_report(std::move(report), output);
}

}  // namespace metaguard::cli
