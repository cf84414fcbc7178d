// What `metaguard explain` and `metaguard diff` do with a report file people hand around:
// read and check it against the schema, tell its story in every format, diff it against
// itself, render it in every report format. Hostile JSON (deep nesting, huge numbers, wrong
// types) must be an InputError naming the file and field, never anything else.
#include <cstdint>

#include "core/errors.hpp"
#include "explain/report_diff.hpp"
#include "explain/run_reader.hpp"
#include "explain/story.hpp"
#include "explain/story_renderer.hpp"
#include "memory_file.hpp"
#include "report/renderer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MemoryFile file(data, size);
  try {
    metaguard::RunReports run = metaguard::read_run(file.path());
    metaguard::Story story = metaguard::build_story(run);
    for (const auto& format : metaguard::story_formats()) metaguard::render_story(story, format);
    for (const auto* read : run.all()) {
      metaguard::ReportDiff diff = metaguard::diff_reports(read->report, read->report, "a", "b");
      for (const auto& format : metaguard::diff_formats()) metaguard::render_diff(diff, format);
      for (const auto& format : metaguard::report_formats()) metaguard::make_renderer(format)->render(read->report);
    }
  } catch (const metaguard::InputError&) {
  }
  return 0;
}
