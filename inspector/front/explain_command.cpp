// `metaguard explain PATH`: reads a run's reports (report.json and rank<k>.json) or one
// report and tells what happened in plain words. Exit code as CONTRACT.md: 0 when no error
// finding remains in what was read, 1 when one does, 2 for unreadable or malformed input.
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "core/atomic_file.hpp"
#include "core/errors.hpp"
#include "explain/run_reader.hpp"
#include "explain/story.hpp"
#include "explain/story_renderer.hpp"
#include "front/commands.hpp"

namespace metaguard::cli {

int run_explain(const std::vector<std::string>& args) {
  std::string path;
  std::string format = "text";
  std::string out;
  po::options_description options("explain options");
  options.add_options()
      ("path", po::value(&path), "a run directory (report.json, rank<k>.json) or one report .json")
      ("format", po::value(&format)->default_value("text"), "output format: text, md, json")
      ("out", output_path_value(&out), "write the explanation to this file (atomically) instead of stdout ('-': stdout)");
  po::positional_options_description positionals;
  positionals.add("path", 1);
  po::variables_map values;
  if (!parse_arguments("explain", "metaguard explain PATH [--format text|md|json] [--out FILE]", args, options,
                       positionals, values)) {
    return 0;
  }
  if (path.empty()) throw InputError("explain: missing PATH (a run directory or a report .json)");
  require_story_format(format);  // before any file is read

  Story story = build_story(read_run(path));
  std::string text = render_story(story, format);
  deliver_output(out, text);
  return story.exit_code();
}

}  // namespace metaguard::cli
