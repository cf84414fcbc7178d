#include "report/escaping.hpp"

#include <algorithm>
#include <cstdint>

namespace metaguard {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at text[i], or 0 when it is invalid
// (overlong forms, surrogates and code points above U+10FFFF are invalid too).
size_t utf8_sequence_length(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  size_t length = 0;
  uint32_t code = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code = lead & 0x0Fu;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code = lead & 0x07u;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0u) != 0x80u) return 0;
    code = (code << 6) | (byte(i + k) & 0x3Fu);
  }
  if (length == 3 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) return 0;
  if (length == 4 && (code < 0x10000 || code > 0x10FFFF)) return 0;
  // U+FFFE and U+FFFF are not XML characters either.
  if (code == 0xFFFE || code == 0xFFFF) return 0;
  return length;
}

bool is_allowed_control(char c) { return c == '\t' || c == '\n' || c == '\r'; }

// Calls `emit(piece)` for each character of the sanitized text, one code point at a time.
template <typename Emit>
void for_each_sanitized(std::string_view text, Emit emit) {
  size_t i = 0;
  while (i < text.size()) {
    size_t length = utf8_sequence_length(text, i);
    if (length == 0) {
      emit(kReplacement);
      ++i;
      continue;
    }
    if (length == 1) {
      char c = text[i];
      bool control = static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
      // DEL is allowed by XML but is invisible noise in every format we write.
      if (control && !is_allowed_control(c)) {
        emit(kReplacement);
        ++i;
        continue;
      }
    }
    emit(text.substr(i, length));
    i += length;
  }
}

}  // namespace

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for_each_sanitized(text, [&](std::string_view piece) { out += piece; });
  return out;
}

namespace {

// XML's escapes; an attribute also escapes quotes and the whitespace a parser would
// otherwise normalize to spaces.
const char* xml_escape(std::string_view piece, bool attribute) {
  if (piece == "&") return "&amp;";
  if (piece == "<") return "&lt;";
  if (piece == ">") return "&gt;";  // needed for "]]>" in text, harmless elsewhere
  if (!attribute) return nullptr;
  if (piece == "\"") return "&quot;";
  if (piece == "'") return "&#39;";
  if (piece == "\t") return "&#9;";
  if (piece == "\n") return "&#10;";
  if (piece == "\r") return "&#13;";
  return nullptr;
}

std::string escape_xml(std::string_view text, bool attribute) {
  std::string out;
  out.reserve(text.size());
  for_each_sanitized(text, [&](std::string_view piece) {
    const char* escaped = xml_escape(piece, attribute);
    if (escaped) {
      out += escaped;
    } else {
      out += piece;
    }
  });
  return out;
}

}  // namespace

std::string escape_xml_text(std::string_view text) { return escape_xml(text, false); }

std::string escape_xml_attribute(std::string_view text) { return escape_xml(text, true); }

std::string escape_markdown(std::string_view text) {
  // Punctuation with inline meaning in CommonMark/GFM (emphasis, code, links, images, raw
  // HTML, entities, strikethrough, table pipes) plus '$' (GitHub renders math) and '#'.
  static constexpr std::string_view kSpecial = "\\`*_[]<>|&!~#$";
  std::string out;
  out.reserve(text.size());
  bool after_break = false;
  for_each_sanitized(text, [&](std::string_view piece) {
    if (piece == "\r" || piece == "\n") {
      // "\r\n" is one break: one space.
      if (!after_break) out += ' ';
      after_break = true;
      return;
    }
    after_break = false;
    if (piece.size() == 1 && kSpecial.find(piece[0]) != std::string_view::npos) out += '\\';
    out += piece;
  });
  return out;
}

std::string markdown_code_cell(std::string_view text) {
  if (text.empty()) return "";
  std::string body;
  body.reserve(text.size());
  size_t longest_run = 0;
  size_t run = 0;
  for_each_sanitized(text, [&](std::string_view piece) {
    if (piece == "`") {
      longest_run = std::max(longest_run, ++run);
    } else {
      run = 0;
    }
    if (piece == "\n" || piece == "\r") {
      body += ' ';
    } else if (piece == "|") {
      body += "\\|";
    } else {
      body += piece;
    }
  });
  std::string fence(longest_run + 1, '`');
  // CommonMark strips one space from each side when both are spaces, and a backtick at an
  // edge would join the fence: pad in those cases so the content survives unchanged.
  bool all_spaces = body.find_first_not_of(' ') == std::string::npos;
  bool pad = body.front() == '`' || body.back() == '`' ||
             (body.front() == ' ' && body.back() == ' ' && !all_spaces);
  if (pad) body = " " + body + " ";
  return fence + body + fence;
}

std::string printable_text(std::string_view text) {
  // Controls first (they are ASCII, so this cannot split a UTF-8 sequence), then the rest.
  std::string shown;
  shown.reserve(text.size());
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      shown += "\\x";
      shown += kHex[c >> 4];
      shown += kHex[c & 15];
    } else {
      shown += static_cast<char>(c);
    }
  }
  return sanitize_utf8(shown);
}

}  // namespace metaguard
