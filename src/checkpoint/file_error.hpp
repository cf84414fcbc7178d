#pragma once
#include <string>
#include <string_view>

namespace metaguard {

// Every checkpoint error reads "'<file>': <what>" on one line (CONTRACT.md, exit 2).
[[noreturn]] void fail_file(const std::string& path, const std::string& what);

// Text taken from a file (keys, global names, dtype codes) made safe for a one-line
// message: control bytes and bytes >= 0x7f become \xNN, and long text is cut with "...".
std::string printable(std::string_view untrusted, size_t max_length = 120);

// Strict UTF-8 (no overlong forms, no surrogates): what JSON output and Python's str need.
bool valid_utf8(std::string_view text);

}  // namespace metaguard
