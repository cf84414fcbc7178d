#pragma once
#include <string>

namespace metaguard {

// Files this process reads as input, remembered by identity (device and inode), so that an
// output (--out) never replaces one: `scan ck.pt --out ck.pt` is an input error, not a
// lost checkpoint.
void note_input_file(const std::string& path);
// True when `path` is (a link to) a file noted as input.
bool is_input_file(const std::string& path);

}  // namespace metaguard
