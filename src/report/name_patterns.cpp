#include "report/name_patterns.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>

#include <fmt/format.h>

namespace metaguard {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A name cut into text and number pieces: "h.12.attn" -> "h.", 12, ".attn".
struct Pieces {
  std::vector<std::string> texts;   // texts.size() == numbers.size() + 1
  std::vector<std::string> numbers;  // as written (leading zeros kept)
};

Pieces split_numbers(const std::string& name) {
  Pieces pieces;
  pieces.texts.emplace_back();
  for (size_t i = 0; i < name.size();) {
    if (!is_digit(name[i])) {
      pieces.texts.back() += name[i++];
      continue;
    }
    size_t end = i;
    while (end < name.size() && is_digit(name[end])) ++end;
    pieces.numbers.push_back(name.substr(i, end - i));
    pieces.texts.emplace_back();
    i = end;
  }
  return pieces;
}

// A number written without leading zeros and short enough to compare as a value.
bool plain_number(const std::string& digits) {
  return digits.size() <= 15 && (digits.size() == 1 || digits[0] != '0');
}

std::string listed(const std::vector<std::string>& names, size_t max_listed) {
  if (names.size() <= max_listed) {
    std::string out;
    for (size_t i = 0; i < names.size(); ++i) {
      if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
      out += names[i];
    }
    return out;
  }
  return fmt::format("{}, {}, ... ({} names)", names[0], names[1], names.size());
}

}  // namespace

bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      size_t i_end = i;
      size_t j_end = j;
      while (i_end < a.size() && is_digit(a[i_end])) ++i_end;
      while (j_end < b.size() && is_digit(b[j_end])) ++j_end;
      // Compare as numbers without overflow: strip leading zeros, then length, then text.
      size_t i_start = i;
      size_t j_start = j;
      while (i_start + 1 < i_end && a[i_start] == '0') ++i_start;
      while (j_start + 1 < j_end && b[j_start] == '0') ++j_start;
      std::string_view x(a.data() + i_start, i_end - i_start);
      std::string_view y(b.data() + j_start, j_end - j_start);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      if (i_end - i != j_end - j) return (i_end - i) < (j_end - j);  // "01" after "1": stay strict
      i = i_end;
      j = j_end;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i;
    ++j;
  }
  return (a.size() - i) < (b.size() - j);
}

std::string number_runs(const std::vector<long long>& numbers, const char* range, const char* separator) {
  std::string out;
  for (size_t i = 0; i < numbers.size();) {
    size_t end = i;
    while (end + 1 < numbers.size() && numbers[end + 1] == numbers[end] + 1) ++end;
    if (!out.empty()) out += separator;
    if (end == i) {
      out += std::to_string(numbers[i]);
    } else if (end == i + 1) {
      out += fmt::format("{}{}{}", numbers[i], separator, numbers[end]);
    } else {
      out += fmt::format("{}{}{}", numbers[i], range, numbers[end]);
    }
    i = end + 1;
  }
  return out;
}

std::string compress_names(const std::vector<std::string>& input, size_t max_listed) {
  std::vector<std::string> names = input;
  std::sort(names.begin(), names.end(), natural_less);
  names.erase(std::unique(names.begin(), names.end()), names.end());
  if (names.empty()) return "";
  if (names.size() == 1) return names.front();

  // Same texts between the numbers, and exactly one number position that differs.
  const Pieces first = split_numbers(names.front());
  std::vector<Pieces> all;
  for (const auto& name : names) {
    all.push_back(split_numbers(name));
    if (all.back().texts != first.texts) return listed(names, max_listed);
  }
  std::optional<size_t> varying;
  for (size_t position = 0; position < first.numbers.size(); ++position) {
    for (const auto& pieces : all) {
      if (pieces.numbers[position] == first.numbers[position]) continue;
      if (varying && *varying != position) return listed(names, max_listed);
      varying = position;
    }
  }
  std::set<long long> values;
  for (const auto& pieces : all) {
    const std::string& digits = pieces.numbers[*varying];
    if (!plain_number(digits)) return listed(names, max_listed);
    values.insert(std::stoll(digits));
  }
  std::string out;
  for (size_t position = 0; position < first.numbers.size(); ++position) {
    out += first.texts[position];
    out += position == *varying ? "{" + number_runs({values.begin(), values.end()}) + "}" : first.numbers[position];
  }
  return out + first.texts.back();
}

std::string rank_set_text(const std::vector<int>& input, std::optional<int> world_size) {
  std::vector<int> ranks = input;
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  if (ranks.empty()) return "";
  if (ranks.size() == 1) return fmt::format("rank {}", ranks.front());
  if (world_size && static_cast<int>(ranks.size()) == *world_size && ranks.front() == 0 && ranks.back() == *world_size - 1) {
    return *world_size == 2 ? "both ranks" : fmt::format("all {} ranks", *world_size);
  }
  std::string runs = number_runs({ranks.begin(), ranks.end()}, "-", ", ");
  return "ranks " + runs;
}

}  // namespace metaguard
