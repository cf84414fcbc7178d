#include "checkpoint/file_error.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"

namespace metaguard {

void fail_file(const std::string& path, const std::string& what) {
  throw InputError(fmt::format("'{}': {}", path, what));
}

std::string printable(std::string_view untrusted, size_t max_length) {
  std::string out;
  out.reserve(std::min(untrusted.size(), max_length) + 3);
  for (size_t i = 0; i < untrusted.size(); ++i) {
    if (out.size() >= max_length) {
      out += "...";
      break;
    }
    auto byte = static_cast<unsigned char>(untrusted[i]);
    if (byte < 0x20 || byte >= 0x7f) {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      out += static_cast<char>(byte);
    }
  }
  return out;
}

bool valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int length = 0;
    uint32_t code = 0;
    if ((c & 0xe0) == 0xc0) {
      length = 2;
      code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      length = 3;
      code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      length = 4;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<size_t>(length) > text.size()) return false;
    for (int k = 1; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + static_cast<size_t>(k)]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    static constexpr uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kMinimum[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      return false;
    }
    i += static_cast<size_t>(length);
  }
  return true;
}

}  // namespace metaguard
