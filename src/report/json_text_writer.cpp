#include "report/json_text_writer.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace metaguard {
namespace {

// nlohmann's escaping with ensure_ascii off, for ASCII text (anything else goes to
// nlohmann itself, whose handling of invalid UTF-8 is the reference).
void append_ascii_escaped(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace

void JsonTextWriter::indent() { out_.append(static_cast<size_t>(2 * depth_), ' '); }

void JsonTextWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (depth_ == 0) return;  // the document itself
  out_ += first_ ? "\n" : ",\n";
  first_ = false;
  indent();
}

void JsonTextWriter::key(std::string_view name) {
  out_ += first_ ? "\n" : ",\n";
  first_ = false;
  indent();
  append_string(name);
  out_ += ": ";
  after_key_ = true;
}

void JsonTextWriter::open(char bracket) {
  before_value();
  out_ += bracket;
  ++depth_;
  first_ = true;
}

void JsonTextWriter::close(char bracket) {
  --depth_;
  if (!first_) {  // an empty container stays on one line: {} or []
    out_ += '\n';
    indent();
  }
  out_ += bracket;
  first_ = false;  // the container just closed is a member of its parent
}

void JsonTextWriter::begin_object() { open('{'); }
void JsonTextWriter::end_object() { close('}'); }
void JsonTextWriter::begin_array() { open('['); }
void JsonTextWriter::end_array() { close(']'); }

void JsonTextWriter::string(std::string_view text) {
  before_value();
  append_string(text);
}

void JsonTextWriter::append_string(std::string_view text) {
  if (is_ascii(text)) {
    append_ascii_escaped(out_, text);
  } else {
    out_ += nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

void JsonTextWriter::integer(int64_t value) {
  before_value();
  out_ += fmt::format_int(value).c_str();
}

void JsonTextWriter::boolean(bool value) {
  before_value();
  out_ += value ? "true" : "false";
}

void JsonTextWriter::null() {
  before_value();
  out_ += "null";
}

void JsonTextWriter::value(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object:
      begin_object();
      for (const auto& [name, member] : value.items()) {
        key(name);
        this->value(member);
      }
      end_object();
      return;
    case nlohmann::json::value_t::array:
      begin_array();
      for (const auto& element : value) this->value(element);
      end_array();
      return;
    case nlohmann::json::value_t::string: string(value.get_ref<const std::string&>()); return;
    case nlohmann::json::value_t::number_integer: integer(value.get<int64_t>()); return;
    case nlohmann::json::value_t::boolean: boolean(value.get<bool>()); return;
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded: null(); return;
    default:
      // Unsigned and floating-point numbers: nlohmann's own formatting (shortest
      // round-trip digits, ".0" on whole floats, null for NaN and infinity).
      before_value();
      out_ += value.dump();
      return;
  }
}

}  // namespace metaguard
