#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace metaguard {

// Appends JSON text to a string exactly as nlohmann::json::dump(2, ' ', false, replace)
// prints the same value (objects' keys in sorted order are the caller's duty), without
// building a json tree first: a report of a 70B model holds thousands of tensors, and
// building and freeing their tree cost more than the rest of a preflight.
class JsonTextWriter {
 public:
  explicit JsonTextWriter(std::string& out) : out_(out) {}

  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  // Inside an object: the next member's key (the value follows with one of the calls here).
  void key(std::string_view name);

  void string(std::string_view text);
  void integer(int64_t value);
  void boolean(bool value);
  void null();
  // key(name) and then the value, for the common members.
  void member(std::string_view name, std::string_view text) {
    key(name);
    string(text);
  }
  void member(std::string_view name, int64_t value) {
    key(name);
    integer(value);
  }
  // Any json value (its objects print in nlohmann's own key order), e.g. free-form sections.
  void value(const nlohmann::json& value);

 private:
  void open(char bracket);
  void close(char bracket);
  void before_value();  // the comma, newline and indent an array element needs
  void append_string(std::string_view text);
  void indent();

  std::string& out_;
  int depth_ = 0;
  bool first_ = true;        // no member or element yet in the innermost container
  bool after_key_ = false;   // the value of a key comes next, on the key's line
};

}  // namespace metaguard
