#include "core/hashing.hpp"

#include <cstring>

namespace metaguard {

uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  constexpr uint64_t kMul = 0x9fb21c651e98df25ULL;
  uint64_t lanes[4] = {mix64(seed ^ 1), mix64(seed ^ 2), mix64(seed ^ 3), mix64(seed ^ 4)};
  size_t i = 0;
  for (; i + 32 <= size; i += 32) {
    for (int lane = 0; lane < 4; ++lane) {
      uint64_t word;
      std::memcpy(&word, bytes + i + 8 * lane, 8);
      lanes[lane] = (lanes[lane] ^ word) * kMul;
      lanes[lane] ^= lanes[lane] >> 29;
    }
  }
  uint64_t tail = 0;
  for (size_t k = 0; i < size; ++i, ++k) tail ^= static_cast<uint64_t>(bytes[i]) << (8 * (k % 8));
  uint64_t hash = mix64(size);
  for (uint64_t lane : lanes) hash = mix64(hash ^ lane);
  return mix64(hash ^ tail);
}

}  // namespace metaguard
