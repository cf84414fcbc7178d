#pragma once
#include <cstdint>
#include <string>

namespace metaguard {

// Files this process reads as input, remembered by identity (device and inode), so that an
// output (--out) never replaces one: `scan ck.pt --out ck.pt` is an input error, not a
// lost checkpoint.
void note_input_file(const std::string& path);
// True when `path` is (a link to) a file noted as input.
bool is_input_file(const std::string& path);

// Reads a small input file whole (a config, a catalog) and notes it as input. InputError
// naming the file and `what` ("model config") when it is absent, a directory, larger than
// `max_bytes` (checked before reading) or unreadable.
std::string read_input_text(const std::string& path, std::uintmax_t max_bytes, const std::string& what);

}  // namespace metaguard
