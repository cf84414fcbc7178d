#pragma once
#include <string>
#include <string_view>

namespace metaguard {

// Writes `contents` to `path` so that a reader sees either the old file or the whole new
// one: write a temporary file beside it, fsync, rename over the target, fsync the directory.
// Throws InputError naming the path when it cannot.
void write_file_atomically(const std::string& path, std::string_view contents);

// Reads a whole file; throws InputError naming the path when it cannot.
std::string read_file(const std::string& path);

}  // namespace metaguard
