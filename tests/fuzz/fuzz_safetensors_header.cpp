// The safetensors header: the input is the JSON header alone; the target frames it as a file
// (its length as 8 little-endian bytes, the header, then a data section of 256 bytes), so
// every mutation lands in the JSON and its checks (dtypes, shapes, offsets tiling the data).
#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_reader.hpp"
#include "core/errors.hpp"
#include "memory_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> file(8 + size + 256, 0);
  for (int i = 0; i < 8; ++i) file[i] = static_cast<uint8_t>(static_cast<uint64_t>(size) >> (8 * i));
  std::copy(data, data + size, file.begin() + 8);
  MemoryFile memory(file.data(), file.size());
  try {
    metaguard::CheckpointFile checkpoint = metaguard::CheckpointFile::open(memory.path());
    checkpoint.inventory();
  } catch (const metaguard::InputError&) {
  }
  return 0;
}
