// The zip central directory reader (torch.save's container): every entry's local header is
// followed to its data offset, as the loader does.
#include <cstdint>

#include "checkpoint/zip_directory.hpp"
#include "core/errors.hpp"
#include "memory_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MemoryFile file(data, size);
  try {
    for (const auto& entry : metaguard::read_zip_directory(file.fd(), file.size(), "fuzz.pt")) {
      metaguard::zip_data_offset(file.fd(), file.size(), entry, "fuzz.pt");
    }
  } catch (const metaguard::InputError&) {
  }
  return 0;
}
