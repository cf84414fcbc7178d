// The example reports in reports/ are what the tool really prints: each case of
// reports/cases.txt is run again in every format and compared with the approved file, with
// the volatile parts blanked: the absolute path of the source tree and, in JSON, timings
// (any key naming seconds). A train case also compares its rank reports; `explain` and
// `diff` are run on the approved files and compared with their approved output.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "support/run_process.hpp"
#include "support/scratch_dir.hpp"

using metaguard::test::metaguard_exe;
using metaguard::test::run_process;
using metaguard::test::ScratchDir;
using metaguard::test::slurp;
using metaguard::test::source_path;
namespace fs = std::filesystem;

namespace {

// The source tree's path as given and as the kernel resolves it (a checkout under a
// symbolic link shows up both ways: the executable's own path is always resolved).
std::string blank_source_dir(std::string text) {
  std::vector<std::string> roots{source_path("")};
  const std::string resolved = fs::canonical(source_path("")).string() + "/";
  if (resolved != roots.front()) roots.push_back(resolved);
  for (const auto& root : roots) {
    for (size_t at = text.find(root); at != std::string::npos; at = text.find(root, at)) text.erase(at, root.size());
  }
  return text;
}

// Timings differ on every run; everything else in a report must not.
void blank_timings(nlohmann::json& value) {
  if (!value.is_object() && !value.is_array()) return;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (value.is_object() && it.key().find("seconds") != std::string::npos) {
      *it = nullptr;
    } else {
      blank_timings(*it);
    }
  }
}

// What a comparison looks at: text with the source path blanked; JSON also re-printed with
// its timings blanked.
std::string comparable(const std::string& text, const std::string& extension) {
  std::string out = blank_source_dir(text);
  if (extension != "json") return out;
  auto parsed = nlohmann::json::parse(out, nullptr, false);
  if (parsed.is_discarded()) return "not JSON:\n" + out;
  // Re-printing hides the layout, so the layout is held to nlohmann's first.
  if (out != parsed.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n") return "not as nlohmann prints it:\n" + out;
  blank_timings(parsed);
  return parsed.dump(2);
}

std::vector<std::string> split_words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

struct ExampleCase {
  std::string folder;
  std::vector<std::string> arguments;  // after `metaguard`, paths made absolute
  bool is_train() const { return arguments.front() == "train"; }
  std::string approved(const std::string& file) const { return source_path("reports/" + folder + "/" + file); }
};

std::vector<ExampleCase> read_cases() {
  std::ifstream cases(source_path("reports/cases.txt"));
  std::vector<ExampleCase> out;
  for (std::string line; std::getline(cases, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> words = split_words(line);
    ExampleCase example{words[0], {}};
    for (size_t i = 1; i < words.size(); ++i) {
      // Paths in the cases are relative to the repository root.
      example.arguments.push_back(words[i].rfind("fixtures/", 0) == 0 ? source_path(words[i]) : words[i]);
    }
    out.push_back(std::move(example));
  }
  return out;
}

void compare_with_approved(const ExampleCase& example, const std::string& file, const std::string& printed) {
  const std::string approved = slurp(example.approved(file));
  const std::string extension = file.substr(file.rfind('.') + 1);
  INFO(example.folder << "/" << file);
  CHECK_FALSE(approved.empty());
  CHECK(comparable(printed, extension) == comparable(approved, extension));
}

}  // namespace

TEST_CASE("example reports match what metaguard prints now", "[reports][golden]") {
  const std::vector<ExampleCase> cases = read_cases();
  REQUIRE(cases.size() >= 5);
  int compared = 0;
  bool saw_train = false;
  for (const ExampleCase& example : cases) {
    ScratchDir run_dir;
    for (const auto& [format, extension] : std::vector<std::pair<std::string, std::string>>{
             {"text", "txt"}, {"json", "json"}, {"md", "md"}, {"html", "html"}, {"junit", "xml"}}) {
      std::vector<std::string> argv{metaguard_exe()};
      argv.insert(argv.end(), example.arguments.begin(), example.arguments.end());
      argv.insert(argv.end(), {"--format", format});
      if (example.is_train()) argv.insert(argv.end(), {"--out", run_dir.path()});
      auto result = run_process(argv, 300);
      INFO(example.folder << " in " << format << ": " << result.err);
      CHECK((result.exit_code == 0 || result.exit_code == 1));
      compare_with_approved(example, "report." + extension, result.out);
      ++compared;
    }
    if (example.is_train()) {
      saw_train = true;
      for (const char* file : {"report.json", "rank0.json", "rank1.json"}) {
        compare_with_approved(example, file, slurp(run_dir.file(file)));
      }
      auto diff = run_process({metaguard_exe(), "diff", example.approved("rank0.json"), example.approved("rank1.json")});
      compare_with_approved(example, "diff-rank0-rank1.txt", diff.out);
    }
    auto explain = run_process(
        {metaguard_exe(), "explain", example.is_train() ? source_path("reports/" + example.folder)
                                                        : example.approved("report.json")});
    compare_with_approved(example, "explain.txt", explain.out);
  }
  CHECK(compared >= 25);
  CHECK(saw_train);  // the failed training run the reports/ folder promises
}
