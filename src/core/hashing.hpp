#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace metaguard {

// 64-bit FNV-1a: stable across runs and platforms (std::hash is not).
inline uint64_t fnv1a64(std::string_view text, uint64_t hash = 0xcbf29ce484222325ULL) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// SplitMix64's finaliser: spreads nearby inputs over the whole range.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The seed of one tensor's random stream: a function of the run seed and the tensor's
// name (and a chunk index for large tensors), so every rank, every thread count and
// every walk order produce the same bits.
inline uint64_t tensor_seed(uint64_t run_seed, std::string_view name, uint64_t chunk = 0) {
  return mix64(mix64(run_seed ^ fnv1a64(name)) + chunk);
}

}  // namespace metaguard

namespace metaguard {

// Fast content hash of a byte range (8 bytes at a time, four independent lanes).
// Not cryptographic: it tells replicas apart, it does not resist an adversary.
uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0);

// A content hash that adds up across slices: over the elements x_i of a flattened tensor,
//   H = sum_i mix64(x_i) * P^i   (mod 2^64, P odd),
// i being the element's index in the whole tensor. A slice [b, e) hashed on its own (its
// first element at index 0) becomes its part of H once multiplied by P^b, so the ranks of a
// sharded run, each hashing only its slice, together give the hash of the whole tensor a
// replicated run computes from its copy. `element_size` is 1, 2, 4 or 8 bytes.
uint64_t element_hash(const void* data, int64_t count, int element_size);
// h * P^offset: a slice's element_hash moved to where the slice starts.
uint64_t shift_element_hash(uint64_t hash, int64_t offset);

}  // namespace metaguard
