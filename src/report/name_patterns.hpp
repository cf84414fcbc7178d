#pragma once
#include <optional>
#include <string>
#include <vector>

namespace metaguard {

// Natural order for tensor names: digit runs compare as numbers (h.2 before h.10).
bool natural_less(const std::string& a, const std::string& b);

// Many tensor names as one pattern that still says which: the numbers that differ become a
// brace list with runs compressed, "transformer.h.{0..79}.attn.attn.lora_ind" or
// "transformer.h.{0..3,5,7..9}.mlp.fc.weight". Names that differ in more than their numbers,
// or in more than one number in ways a single brace cannot say, are listed
// ("a, b and c" up to `max_listed`, then "a, b, ... (N names)"). One name is itself.
std::string compress_names(const std::vector<std::string>& names, size_t max_listed = 4);

// "rank 3", "all 8 ranks" (every rank of the world; "both ranks" of two), "ranks 0-3, 5-7",
// "" for none.
std::string rank_set_text(const std::vector<int>& ranks, std::optional<int> world_size);

// "0..3,5,7..9" for sorted, distinct numbers ("0-3, 5, 7-9" with range "-", separator ", ").
std::string number_runs(const std::vector<long long>& numbers, const char* range = "..", const char* separator = ",");

}  // namespace metaguard
