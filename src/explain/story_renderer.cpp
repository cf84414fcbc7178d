#include "explain/story_renderer.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"
#include "report/escaping.hpp"

namespace metaguard {
namespace {

constexpr size_t kNamesShown = 4;   // a group lists this many names before "and N more"
constexpr size_t kHintsShown = 3;

std::string plural(size_t count, const char* one, const char* many) {
  return fmt::format("{} {}", count, count == 1 ? one : many);
}

std::string status_of(const Problem& p) {
  if (p.repaired) return "repaired";
  if (p.allowed) return "allowed";
  return std::string(to_string(p.severity));
}

std::string joined(const std::vector<std::string>& words, const char* separator) {
  return fmt::format("{}", fmt::join(words, separator));
}

// "2 findings on 2 tensors, ranks 0 and 1, seen at before-validation"
std::string scope(const Problem& p) {
  std::string out = plural(static_cast<size_t>(p.findings), "finding", "findings");
  int tensors = p.tensor_count();
  if (tensors > 0) out += " on " + plural(static_cast<size_t>(tensors), "tensor", "tensors");
  if (!p.ranks.empty()) out += ", " + ranks_text(p.ranks);
  if (!p.phases.empty()) out += ", seen at " + joined(p.phases, ", ");
  return out;
}

// The names of a group: its pattern when there is one, else the names (capped).
std::string group_names(const TensorGroup& group) {
  if (!group.pattern.empty()) {
    return fmt::format("{} ({}: {} ... {})", group.pattern, plural(group.tensors.size(), "tensor", "tensors"),
                       group.tensors.front(), group.tensors.back());
  }
  std::vector<std::string> shown(group.tensors.begin(),
                                 group.tensors.begin() + static_cast<long>(std::min(kNamesShown, group.tensors.size())));
  std::string out = joined(shown, ", ");
  if (group.tensors.size() > shown.size()) out += fmt::format(" and {} more", group.tensors.size() - shown.size());
  return out;
}

std::string summary_line(const Story& story) {
  return fmt::format("SUMMARY: {}, {} errors, {} warnings, {} repaired, {} allowed; {} read",
                     plural(story.problems.size(), "problem", "problems"), story.errors, story.warnings,
                     story.repaired, story.allowed, plural(story.files.size(), "report", "reports"));
}

std::string what_was_read(const Story& story) {
  std::string out = fmt::format("{} of {}", story.command, story.source);
  if (story.world_size) out += fmt::format(", world size {}", *story.world_size);
  return out;
}

}  // namespace

std::vector<std::string> story_formats() { return {"text", "md", "json"}; }

void require_story_format(std::string_view format) {
  for (const auto& known : story_formats()) {
    if (format == known) return;
  }
  throw InputError(fmt::format("--format: unknown format '{}' for explain (expected one of: {})", format,
                               fmt::join(story_formats(), ", ")));
}

std::string render_story(const Story& story, std::string_view format) {
  require_story_format(format);
  if (format == "text") return story_to_text(story);
  if (format == "json") {
    // Paths come from the command line and may hold any bytes: replace what is not UTF-8.
    return story_to_json(story).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  return story_to_markdown(story);  // "md"
}

std::string story_to_text(const Story& story) {
  std::string out = fmt::format("metaguard explain: {}\n", story.path);
  out += fmt::format("read {} ({})\n\n", joined(story.files, ", "), what_was_read(story));
  out += story.headline + "\n";
  for (size_t i = 0; i < story.problems.size(); ++i) {
    const Problem& p = story.problems[i];
    out += fmt::format("\n{}. {} ({}): {}\n", i + 1, p.code, status_of(p), scope(p));
    for (const auto& group : p.groups) {
      if (group.tensors.empty()) continue;
      out += fmt::format("   {}\n", group_names(group));
      for (const auto& h : group.histories) {
        out += fmt::format("     {}{}\n", h.ranks.empty() ? "" : ranks_text(h.ranks) + ": ", h.history);
      }
    }
    for (const auto& message : p.messages) out += fmt::format("   {}\n", message);
    out += fmt::format("   root cause: {}.\n", p.cause);
    if (!p.fix.empty()) out += fmt::format("   fix: {}.\n", p.fix);
    for (size_t h = 0; h < p.hints.size() && h < kHintsShown; ++h) {
      out += fmt::format("   the check says: {}\n", p.hints[h]);
    }
    if (p.hints.size() > kHintsShown) out += fmt::format("   (and {} more hints)\n", p.hints.size() - kHintsShown);
  }
  out += "\n" + summary_line(story) + "\n";
  return out;
}

std::string story_to_markdown(const Story& story) {
  std::string out = fmt::format("# metaguard explain: {}\n\n", escape_markdown(story.path));
  out += fmt::format("Read {} ({}).\n\n", escape_markdown(joined(story.files, ", ")),
                     escape_markdown(what_was_read(story)));
  out += fmt::format("**{}**\n", escape_markdown(story.headline));
  for (size_t i = 0; i < story.problems.size(); ++i) {
    const Problem& p = story.problems[i];
    out += fmt::format("\n## {}. {} ({})\n\n{}.\n\n", i + 1, escape_markdown(p.code), status_of(p),
                       escape_markdown(scope(p)));
    for (const auto& group : p.groups) {
      if (group.tensors.empty()) continue;
      out += fmt::format("- {}\n", escape_markdown(group_names(group)));
      for (const auto& h : group.histories) {
        out += fmt::format("  - {}{}\n", h.ranks.empty() ? "" : escape_markdown(ranks_text(h.ranks)) + ": ",
                           escape_markdown(h.history));
      }
    }
    for (const auto& message : p.messages) out += fmt::format("- {}\n", escape_markdown(message));
    out += fmt::format("\n**Root cause:** {}.\n", escape_markdown(p.cause));
    if (!p.fix.empty()) out += fmt::format("\n**Fix:** {}.\n", escape_markdown(p.fix));
    for (size_t h = 0; h < p.hints.size() && h < kHintsShown; ++h) {
      out += fmt::format("\nThe check says: {}\n", escape_markdown(p.hints[h]));
    }
  }
  out += "\n" + summary_line(story) + "\n";
  return out;
}

nlohmann::json story_to_json(const Story& story) {
  using nlohmann::json;
  json problems = json::array();
  for (const auto& p : story.problems) {
    json groups = json::array();
    for (const auto& group : p.groups) {
      json histories = json::array();
      for (const auto& h : group.histories) histories.push_back({{"ranks", h.ranks}, {"history", h.history}});
      groups.push_back({{"tensors", group.tensors},
                        {"pattern", group.pattern.empty() ? json(nullptr) : json(group.pattern)},
                        {"histories", std::move(histories)}});
    }
    problems.push_back({{"code", p.code},
                        {"status", status_of(p)},
                        {"severity", to_string(p.severity)},
                        {"findings", p.findings},
                        {"tensors", p.tensor_count()},
                        {"ranks", p.ranks},
                        {"phases", p.phases},
                        {"groups", std::move(groups)},
                        {"messages", p.messages},
                        {"cause", p.cause},
                        {"fix", p.fix},
                        {"hints", p.hints}});
  }
  json stopped = nullptr;
  if (story.stopped) {
    stopped = {{"phase", story.stopped->phase},
               {"rank", story.stopped->rank ? json(*story.stopped->rank) : json(nullptr)},
               {"reason", story.stopped->reason}};
  }
  return {{"schema", "metaguard.explain/1"},
          {"path", story.path},
          {"command", story.command},
          {"source", story.source},
          {"files", story.files},
          {"ranks", story.ranks},
          {"world_size", story.world_size ? json(*story.world_size) : json(nullptr)},
          {"stopped", std::move(stopped)},
          {"headline", story.headline},
          {"problems", std::move(problems)},
          {"summary",
           {{"problems", story.problems.size()},
            {"errors", story.errors},
            {"warnings", story.warnings},
            {"repaired", story.repaired},
            {"allowed", story.allowed}}}};
}

}  // namespace metaguard
