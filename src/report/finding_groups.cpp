#include "report/finding_groups.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "report/name_patterns.hpp"

namespace metaguard {
namespace {

// Stand-ins for the tensor's name and the rank inside a message (bytes no name holds).
constexpr char kTensorMark[] = "\x01";
constexpr char kRankMark[] = "\x02";

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// "rank 3" as a whole word (not "rank 31"), replaced by the rank mark.
void replace_rank(std::string& text, int rank) {
  const std::string word = fmt::format("rank {}", rank);
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    const size_t end = at + word.size();
    const bool whole = (at == 0 || !std::isalnum(static_cast<unsigned char>(text[at - 1]))) &&
                       (end == text.size() || !std::isdigit(static_cast<unsigned char>(text[end])));
    if (whole) text.replace(at, word.size(), kRankMark);
  }
}

// The message with this finding's own tensor and rank taken out: what the group shares.
std::string shared_story(const Finding& finding) {
  std::string text = finding.message;
  if (finding.tensor) replace_all(text, *finding.tensor, kTensorMark);
  if (finding.rank) replace_rank(text, *finding.rank);
  return text;
}

// The name with each run of digits as '#': "transformer.h.#.attn.attn.lora_ind". Only names
// of one shape (the same tensor in other layers) share a group, so a group's names always
// read as one pattern and unrelated tensors keep their own lines.
std::string name_shape(const std::optional<std::string>& name) {
  if (!name) return "";
  std::string shape;
  auto digit = [&](size_t i) { return std::isdigit(static_cast<unsigned char>((*name)[i])) != 0; };
  for (size_t i = 0; i < name->size(); ++i) {
    if (!digit(i)) {
      shape += (*name)[i];
    } else if (i == 0 || !digit(i - 1)) {
      shape += '#';  // one mark per run of digits
    }
  }
  return shape;
}

}  // namespace

std::string findings_heading(size_t findings, size_t groups) {
  if (groups == findings) return fmt::format("{} findings", findings);
  return fmt::format("{} findings in {} {}", findings, groups, groups == 1 ? "problem" : "problems");
}

std::optional<int> report_world_size(const Report& report) {
  constexpr int64_t kMaxWorldSize = 1'000'000;
  if (report.training && report.training->world_size > 0) return report.training->world_size;
  auto section = report.extra.find("preflight");
  if (section == report.extra.end() || !section->is_object()) return std::nullopt;
  auto size = section->find("world_size");
  if (size == section->end() || !size->is_number_integer()) return std::nullopt;
  const int64_t value = size->get<int64_t>();
  if (value > 0 && value <= kMaxWorldSize) return static_cast<int>(value);
  return std::nullopt;
}

std::vector<FindingGroup> group_findings(const std::vector<Finding>& findings, std::optional<int> world_size) {
  using Key = std::tuple<std::string, int, std::string, bool, bool, std::string, std::string, std::string>;
  std::map<Key, size_t> index;
  std::vector<FindingGroup> groups;
  std::vector<std::string> stories;
  for (size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = findings[i];
    std::string story = shared_story(f);
    Key key{f.code, static_cast<int>(f.severity), f.phase.value_or(""), f.repaired, f.allowed, f.hint, story,
            name_shape(f.tensor)};
    auto [it, inserted] = index.emplace(std::move(key), groups.size());
    if (inserted) {
      groups.emplace_back();
      groups.back().first = &f;
      stories.push_back(std::move(story));
    }
    FindingGroup& group = groups[it->second];
    group.members.push_back(i);
    if (f.tensor) group.tensors.push_back(*f.tensor);
    if (f.rank) group.ranks.push_back(*f.rank);
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    FindingGroup& group = groups[g];
    std::sort(group.tensors.begin(), group.tensors.end(), natural_less);
    group.tensors.erase(std::unique(group.tensors.begin(), group.tensors.end()), group.tensors.end());
    std::sort(group.ranks.begin(), group.ranks.end());
    group.ranks.erase(std::unique(group.ranks.begin(), group.ranks.end()), group.ranks.end());
    group.tensor_pattern = compress_names(group.tensors);
    group.ranks_text = rank_set_text(group.ranks, world_size);
    if (group.size() == 1) {
      group.message = group.first->message;  // one finding reads as it always did
      continue;
    }
    group.message = stories[g];
    replace_all(group.message, kTensorMark, group.tensor_pattern);
    replace_all(group.message, kRankMark, group.ranks_text);
  }
  return groups;
}

}  // namespace metaguard
