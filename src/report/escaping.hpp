#pragma once
#include <string>
#include <string_view>

// Every renderer escapes through these functions and nothing else, so that one tested
// place decides what a tensor name or a message may contain once it is inside markup.
namespace metaguard {

// Valid UTF-8 without the control characters XML 1.0 forbids: every invalid byte sequence
// and every C0 control other than tab, line feed and carriage return becomes U+FFFD.
// (Checkpoint keys are arbitrary bytes; an XML parser rejects the whole file for one.)
std::string sanitize_utf8(std::string_view text);

// XML and HTML text content: sanitized, then '&', '<' and '>' as entities.
std::string escape_xml_text(std::string_view text);

// XML and HTML attribute values inside double or single quotes: as text, plus quotes and
// tab/line feed/carriage return as character references (attribute normalization would
// otherwise turn them into spaces).
std::string escape_xml_attribute(std::string_view text);

// Markdown (CommonMark/GFM) inline text, safe inside a table cell: sanitized, every
// punctuation character that could start emphasis, a link, raw HTML, an entity, math or a
// table column is backslash-escaped, and line breaks become spaces.
std::string escape_markdown(std::string_view text);

// A Markdown code span for a table cell: a backtick fence longer than any backtick run in
// the text, '|' escaped (GFM splits cells before parsing code), line breaks as spaces.
// Empty text gives an empty string.
std::string markdown_code_cell(std::string_view text);

// Plain text for a terminal or a log: sanitized, and every control character (line breaks,
// escape sequences, bell) shown as \xNN, so a name from a file cannot forge a line such as
// a second SUMMARY or recolour the terminal.
std::string printable_text(std::string_view text);

}  // namespace metaguard
