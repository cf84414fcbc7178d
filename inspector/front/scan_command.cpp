// `metaguard scan FILE`: lists a checkpoint's tensors from its metadata (never loading
// LibTorch, never reading tensor data unless --check-values asks for it) and flags entries
// saved on the meta device. `metaguard scan DIR` does so for every checkpoint in a folder
// (a LitGPT checkpoint directory: lit_model.pth, lit_model.pth.lora, ...) in one report.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/value_scan.hpp"
#include "cli_support.hpp"
#include "core/errors.hpp"
#include "front/commands.hpp"
#include "report/renderer.hpp"

namespace metaguard::cli {

namespace {

namespace fs = std::filesystem;

// One checkpoint file as a report (tensors, meta findings, where its storages are).
Report scan_file(const std::string& file, bool check_values) {
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
  return report;
}

// Names a checkpoint goes by; such a file that cannot be read is an error, not "some other file".
bool checkpoint_name(const std::string& name) {
  for (const char* suffix : {".pth", ".pt", ".bin", ".ckpt", ".safetensors", ".lora"}) {
    const std::string tail(suffix);
    if (name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0) return true;
  }
  return false;
}

// Every file of a folder (not recursing): checkpoints scanned into one report, their tensor
// names and storage ids prefixed with the file's name ("lit_model.pth:transformer.wte.weight");
// other files listed with why they were not scanned.
Report scan_directory(const std::string& dir, bool check_values) {
  std::vector<fs::path> files;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.is_regular_file(error)) files.push_back(entry.path());
  }
  if (error) throw InputError(fmt::format("scan: cannot list directory '{}': {}", dir, error.message()));
  std::sort(files.begin(), files.end());
  Report report;
  report.command = "scan";
  report.source = dir;
  nlohmann::json listed = nlohmann::json::array();
  for (const auto& path : files) {
    const std::string name = path.filename().string();
    Report one;
    try {
      one = scan_file(path.string(), check_values);
    } catch (const InputError& problem) {
      if (checkpoint_name(name)) throw;
      listed.push_back({{"file", name}, {"scanned", false}, {"reason", problem.what()}});
      continue;
    }
    const std::string prefix = name + ":";
    for (auto& tensor : one.tensors) {
      tensor.name = prefix + tensor.name;
      if (tensor.storage) tensor.storage = prefix + *tensor.storage;
      report.tensors.push_back(std::move(tensor));
    }
    for (auto& finding : one.findings) {
      if (finding.tensor) finding.tensor = prefix + *finding.tensor;
      report.findings.push_back(std::move(finding));
    }
    nlohmann::json entry = one.extra["checkpoint"];
    entry["file"] = name;
    entry["scanned"] = true;
    entry["tensors"] = one.tensors.size();
    listed.push_back(std::move(entry));
  }
  const bool any = std::any_of(listed.begin(), listed.end(), [](const nlohmann::json& f) { return f["scanned"] == true; });
  if (!any) {
    throw InputError(fmt::format("scan: '{}' holds no checkpoint ({} file(s), none a torch.save or safetensors file)",
                                 dir, listed.size()));
  }
  report.extra["files"] = std::move(listed);
  return report;
}

}  // namespace

int run_scan(const std::vector<std::string>& args) {
  OutputOptions output;
  std::string file;
  bool check_values = false;
  po::options_description options("scan options");
  options.add_options()
      ("file", po::value(&file), "the checkpoint: a torch.save file (.pt, .pth, .bin) or .safetensors, "
                                 "recognised by content; or a directory, every checkpoint in it (also the "
                                 "first positional argument)")
      ("check-values", po::bool_switch(&check_values),
       "also read the tensor data: verify every record's CRC-32 and flag NaN/Inf (nonfinite-values)");
  add_output_options(options, output, /*with_allow=*/true);
  po::positional_options_description positionals;
  positionals.add("file", 1);
  po::variables_map values;
  const std::string usage =
      "metaguard scan FILE|DIR [--format F] [--out PATH] [--check-values] [--allow GLOB]...";
  if (!parse_arguments("scan", usage, args, options, positionals, values)) return 0;
  if (file.empty()) throw InputError("scan: missing FILE (usage: " + usage + ")");
  make_renderer(output.format);  // an unknown --format fails before any work

  std::error_code error;
  Report report = fs::is_directory(file, error) ? scan_directory(file, check_values) : scan_file(file, check_values);
  return emit_report(std::move(report), output);
}

}  // namespace metaguard::cli
