#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "explain/story.hpp"

namespace metaguard {

// `metaguard explain`'s formats: text (default), md, json.
std::vector<std::string> story_formats();
// Throws InputError naming --format when the format is not one of story_formats().
void require_story_format(std::string_view format);
std::string render_story(const Story& story, std::string_view format);

std::string story_to_text(const Story& story);
std::string story_to_markdown(const Story& story);
nlohmann::json story_to_json(const Story& story);

}  // namespace metaguard
