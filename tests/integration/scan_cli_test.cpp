// `metaguard scan` as a user runs it: exit codes, the one-line error for every bad fixture,
// and the JSON report checked against PyTorch's view of each good fixture (the sidecars).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <map>

#include "integration/scan_process.hpp"

namespace {

using nlohmann::json;
namespace test = metaguard::test;

bool has_meta(const json& sidecar) {
  for (const auto& tensor : sidecar["tensors"]) {
    if (tensor["is_meta"]) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("scan: every good fixture, as JSON, matches PyTorch's view", "[scan]") {
  for (const auto& path : test::checkpoint_fixtures("good")) {
    DYNAMIC_SECTION(path) {
      const json expected = test::sidecar(path);
      auto run = test::run_metaguard({"scan", path, "--format", "json"});
      CHECK(run.err.empty());
      CHECK(run.exit_code == (has_meta(expected) ? 1 : 0));
      const json report = json::parse(run.out);
      CHECK(report["schema"] == "metaguard.report/1");
      CHECK(report["command"] == "scan");
      CHECK(report["source"] == path);
      const auto& tensors = report["tensors"];
      REQUIRE(tensors.size() == expected["tensors"].size());
      std::map<int64_t, std::string> id_of_group;
      std::map<std::string, int64_t> group_of_id;
      std::vector<std::string> meta_names;
      for (size_t i = 0; i < tensors.size(); ++i) {
        const json& got = tensors[i];
        const json& want = expected["tensors"][i];
        INFO(want["name"]);
        CHECK(got["name"] == want["name"]);
        CHECK(got["kind"] == "checkpoint_entry");
        CHECK(got["dtype"] == want["dtype"]);
        CHECK(got["shape"] == want["shape"]);
        CHECK(got["numel"] == want["numel"]);
        CHECK(got["storage_offset"] == want["storage_offset"]);
        CHECK(got["contiguous"] == want["contiguous"]);
        CHECK(got["requires_grad"].is_null());
        CHECK(got["device"] == want["device_as_saved"]);
        if (want["is_meta"]) {
          CHECK(got["storage"].is_null());
          meta_names.push_back(want["name"]);
        } else {
          const std::string id = got["storage"];
          auto [a, new_group] = id_of_group.emplace(want["storage_group"].get<int64_t>(), id);
          auto [b, new_id] = group_of_id.emplace(id, want["storage_group"].get<int64_t>());
          CHECK(a->second == id);
          CHECK(b->second == want["storage_group"]);
        }
      }
      std::vector<std::string> flagged;
      for (const auto& finding : report["findings"]) {
        CHECK(finding["code"] == "meta-checkpoint-entry");
        CHECK(finding["severity"] == "error");
        flagged.push_back(finding["tensor"]);
      }
      std::sort(meta_names.begin(), meta_names.end());
      CHECK(flagged == meta_names);  // findings are sorted by tensor
      CHECK(report["summary"]["meta"] == meta_names.size());
      if (!expected["metadata"].empty()) CHECK(report["metadata"] == expected["metadata"]);
      // Storage byte offsets agree with Python's zipfile.
      if (expected.contains("records")) {
        for (const auto& storage : report["storages"]) {
          const json& record = expected["records"][storage["record"].get<std::string>()];
          CHECK(storage["nbytes"] <= record["size"]);
          if (record["compression"] == 0) CHECK(storage["file_offset"] == record["data_offset"]);
          if (record["compression"] != 0) CHECK(storage["file_offset"].is_null());
        }
      }
    }
  }
}

TEST_CASE("scan: --check-values flags what torch.isfinite flags", "[scan]") {
  for (const char* name : {"nonfinite.pt", "model.safetensors", "dtypes.pt", "views.pt"}) {
    DYNAMIC_SECTION(name) {
      const std::string path = test::source_path(std::string("fixtures/checkpoints/good/") + name);
      const json expected = test::sidecar(path);
      auto run = test::run_metaguard({"scan", path, "--check-values", "--format", "json"});
      const json report = json::parse(run.out);
      std::vector<std::string> want, got;
      for (const auto& tensor : expected["tensors"]) {
        if (tensor["nonfinite"] > 0) want.push_back(tensor["name"]);
      }
      for (const auto& finding : report["findings"]) {
        if (finding["code"] != "nonfinite-values") continue;
        got.push_back(finding["tensor"]);
        for (const auto& tensor : expected["tensors"]) {
          if (tensor["name"] == finding["tensor"]) {
            CHECK_THAT(finding["message"].get<std::string>(),
                       Catch::Contains(" holds " + std::to_string(tensor["nonfinite"].get<int>()) + " non-finite"));
          }
        }
      }
      std::sort(want.begin(), want.end());
      CHECK(got == want);
      CHECK(run.exit_code == (want.empty() ? 0 : 1));
      CHECK(report["checkpoint"]["values_checked"] == true);
    }
  }
}

TEST_CASE("scan: every bad fixture exits 2 with one line naming the file and the problem", "[scan]") {
  ::unlink("/tmp/metaguard_os_system_fixture_ran");
  for (const auto& path : test::checkpoint_fixtures("bad")) {
    DYNAMIC_SECTION(path) {
      const json expected = test::sidecar(path);
      const bool needs_values = expected["needs_check_values"];
      auto run = needs_values ? test::run_metaguard({"scan", path, "--check-values"})
                              : test::run_metaguard({"scan", path});
      CHECK(run.exit_code == 2);
      CHECK(run.out.empty());
      CHECK_THAT(run.err, Catch::StartsWith("metaguard: error: '" + path + "': "));
      CHECK_THAT(run.err, Catch::Contains(expected["expected_problem"].get<std::string>()));
      CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
      CHECK(run.err.back() == '\n');
      if (needs_values) CHECK(test::run_metaguard({"scan", path}).exit_code == 0);  // metadata intact
    }
  }
  // Nothing in a file is ever executed.
  CHECK(::access("/tmp/metaguard_os_system_fixture_ran", F_OK) != 0);
}

TEST_CASE("scan: --allow turns meta findings into counted info", "[scan]") {
  const std::string path = test::source_path("fixtures/checkpoints/good/meta.pt");
  auto all = test::run_metaguard({"scan", path, "--allow", "*", "--format", "json"});
  CHECK(all.exit_code == 0);
  const json report = json::parse(all.out);
  CHECK(report["summary"]["allowed"] == 10);
  CHECK(report["summary"]["errors"] == 0);
  for (const auto& finding : report["findings"]) CHECK(finding["severity"] == "info");

  auto some = test::run_metaguard({"scan", path, "--allow", "bn.*", "--allow", "norm.*", "--format", "json"});
  CHECK(some.exit_code == 1);
  const json partial = json::parse(some.out);
  CHECK(partial["summary"]["allowed"] == 7);
  CHECK(partial["summary"]["errors"] == 3);
}

TEST_CASE("scan: text output, --out, and usage errors", "[scan]") {
  const std::string path = test::source_path("fixtures/checkpoints/good/tied.pt");
  auto text = test::run_metaguard({"scan", path});
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains("model.lm_head.weight"));
  CHECK_THAT(text.out, Catch::Contains("\nSUMMARY: 4 tensors, 0 meta, 0 errors"));

  test::TempDir dir;
  auto out = test::run_metaguard({"scan", path, "--format", "json", "--out", dir.file("report.json")});
  CHECK(out.exit_code == 0);
  CHECK(out.out.empty());
  CHECK(json::parse(test::read_binary(dir.file("report.json")))["tensors"].size() == 4);

  auto help = test::run_metaguard({"scan", "--help"});
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains("metaguard scan FILE"));

  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const auto& c : std::vector<Case>{
           {{"scan"}, "missing FILE"},
           {{"scan", path, "--format", "yaml"}, "yaml"},
           {{"scan", path, "--bogus"}, "--bogus"},
           {{"scan", dir.file("absent.pt")}, "absent.pt': cannot read"},
           {{"scan", dir.path()}, "holds no checkpoint"},  // a folder of other files
       }) {
    auto run = test::run_metaguard(c.args);
    INFO(c.message);
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.err, Catch::StartsWith("metaguard: error: "));
    CHECK_THAT(run.err, Catch::Contains(c.message));
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  }
}

TEST_CASE("scan: the front executable never links LibTorch", "[scan]") {
  auto ldd = test::run_process({"/usr/bin/ldd", test::build_path("metaguard")});
  REQUIRE(ldd.exit_code == 0);
  CHECK(ldd.out.find("libtorch") == std::string::npos);
  CHECK(ldd.out.find("libc10") == std::string::npos);
}

TEST_CASE("scan DIR: every checkpoint of a LitGPT checkpoint directory in one report, other files listed",
          "[scan][litgpt]") {
  test::TempDir dir;
  namespace fs = std::filesystem;
  fs::copy_file(test::source_path("fixtures/checkpoints/good/tied.pt"), dir.file("lit_model.pth"));
  fs::copy_file(test::source_path("fixtures/checkpoints/good/meta.pt"), dir.file("lit_model.pth.lora"));
  dir.write("model_config.yaml", "name: micro\nn_layer: 2\n");
  auto run = test::run_metaguard({"scan", dir.path(), "--format", "json"});
  INFO(run.err);
  CHECK(run.exit_code == 1);  // meta.pt's meta entries are errors, named by file
  json report = json::parse(run.out);
  REQUIRE(report["files"].size() == 3);
  CHECK(report["files"][0]["file"] == "lit_model.pth");
  CHECK(report["files"][0]["scanned"] == true);
  CHECK(report["files"][0]["tensors"] == 4);
  CHECK(report["files"][1]["file"] == "lit_model.pth.lora");
  CHECK(report["files"][2]["file"] == "model_config.yaml");
  CHECK(report["files"][2]["scanned"] == false);
  CHECK_THAT(report["files"][2]["reason"].get<std::string>(), Catch::Contains("not a torch.save"));
  size_t from_model = 0;
  for (const auto& tensor : report["tensors"]) from_model += tensor["name"].get<std::string>().rfind("lit_model.pth:", 0) == 0;
  CHECK(from_model == 4);
  for (const auto& finding : report["findings"]) {
    CHECK_THAT(finding["tensor"].get<std::string>(), Catch::StartsWith("lit_model.pth.lora:"));
  }
  // A file named like a checkpoint that is none is bad input, named.
  dir.write("broken.pth", "not a checkpoint");
  auto broken = test::run_metaguard({"scan", dir.path()});
  CHECK(broken.exit_code == 2);
  CHECK_THAT(broken.err, Catch::StartsWith("metaguard: error:") && Catch::Contains("broken.pth"));
}
