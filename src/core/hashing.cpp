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

namespace {

constexpr uint64_t kElementBase = 0x100000001b3ULL;  // odd: every power is invertible mod 2^64

uint64_t power_of_base(uint64_t exponent) {
  uint64_t result = 1, base = kElementBase;
  for (; exponent; exponent >>= 1, base *= base) {
    if (exponent & 1) result *= base;
  }
  return result;
}

uint64_t load_element(const unsigned char* at, int element_size) {
  switch (element_size) {
    case 1: return *at;
    case 2: { uint16_t v; std::memcpy(&v, at, 2); return v; }
    case 4: { uint32_t v; std::memcpy(&v, at, 4); return v; }
    default: { uint64_t v; std::memcpy(&v, at, 8); return v; }
  }
}

}  // namespace

uint64_t element_hash(const void* data, int64_t count, int element_size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  // Four independent lanes (element i in lane i % 4) keep the multiplies in flight.
  uint64_t sums[4] = {0, 0, 0, 0};
  uint64_t powers[4] = {1, kElementBase, kElementBase * kElementBase, kElementBase * kElementBase * kElementBase};
  const uint64_t step = powers[2] * powers[2];
  int64_t i = 0;
  for (; i + 4 <= count; i += 4) {
    for (int lane = 0; lane < 4; ++lane) {
      sums[lane] += mix64(load_element(bytes + (i + lane) * element_size, element_size)) * powers[lane];
      powers[lane] *= step;
    }
  }
  for (int lane = 0; i < count; ++i, ++lane) sums[0] += mix64(load_element(bytes + i * element_size, element_size)) * powers[lane];
  return sums[0] + sums[1] + sums[2] + sums[3];
}

uint64_t shift_element_hash(uint64_t hash, int64_t offset) { return hash * power_of_base(static_cast<uint64_t>(offset)); }

}  // namespace metaguard
