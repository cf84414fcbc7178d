// The example reports in reports/ are what the tool really prints: each case of
// reports/cases.txt is run again in every format and compared with the approved file,
// with the one volatile part (the absolute path of the source tree) blanked.
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "support/run_process.hpp"

using metaguard::test::metaguard_exe;
using metaguard::test::run_process;
using metaguard::test::source_path;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string blank_source_dir(std::string text) {
  const std::string root = source_path("");
  for (size_t at = text.find(root); at != std::string::npos; at = text.find(root, at)) text.erase(at, root.size());
  return text;
}

std::vector<std::string> split_words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

}  // namespace

TEST_CASE("example reports match what metaguard prints now", "[reports][golden]") {
  std::ifstream cases(source_path("reports/cases.txt"));
  REQUIRE(cases.good());
  int compared = 0;
  for (std::string line; std::getline(cases, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> words = split_words(line);
    const std::string folder = words[0];
    for (const auto& [format, extension] : std::vector<std::pair<std::string, std::string>>{
             {"text", "txt"}, {"json", "json"}, {"md", "md"}, {"html", "html"}, {"junit", "xml"}}) {
      std::vector<std::string> argv{metaguard_exe()};
      for (size_t i = 1; i < words.size(); ++i) {
        // Paths in the cases are relative to the repository root.
        argv.push_back(words[i].rfind("fixtures/", 0) == 0 ? source_path(words[i]) : words[i]);
      }
      argv.insert(argv.end(), {"--format", format});
      auto result = run_process(argv, 300);
      INFO(folder << " in " << format << ": " << result.err);
      CHECK((result.exit_code == 0 || result.exit_code == 1));
      const std::string approved = read_text(source_path("reports/" + folder + "/report." + extension));
      CHECK_FALSE(approved.empty());
      CHECK(blank_source_dir(result.out) == approved);
      ++compared;
    }
  }
  CHECK(compared >= 20);
}
