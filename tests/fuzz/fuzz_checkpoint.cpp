// A whole checkpoint as `metaguard scan` opens it: recognised by content (torch zip,
// safetensors, legacy formats refused), listed as an inventory, and every storage read
// through its CRC-checked stream, as the loader would.
#include <cstdint>
#include <vector>

#include "checkpoint/checkpoint_reader.hpp"
#include "core/errors.hpp"
#include "memory_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MemoryFile file(data, size);
  try {
    metaguard::CheckpointFile checkpoint = metaguard::CheckpointFile::open(file.path());
    checkpoint.inventory();
    checkpoint.meta_findings();
    std::vector<char> buffer(4096);
    for (size_t i = 0; i < checkpoint.storages().size(); ++i) {
      auto stream = checkpoint.open_storage(i);
      while (stream->read(buffer.data(), buffer.size()) > 0) {
      }
    }
  } catch (const metaguard::InputError&) {
  }
  return 0;
}
