#include "core/atomic_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/atomic_output.hpp"
#include "core/errors.hpp"
#include "core/input_files.hpp"

namespace metaguard {

void write_file_atomically(const std::string& path, std::string_view contents) {
  AtomicOutputFile out(path);
  out.write(contents);
  out.commit();
}

std::string read_file(const std::string& path) {
  note_input_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw InputError(fmt::format("cannot read '{}'", path));
  return buffer.str();
}

}  // namespace metaguard
