#pragma once
#include <cstdint>

namespace metaguard {

// Standard normal samples for the random init recipes, faster than LibTorch's CPU normal_
// (which draws every value from mt19937 and transforms pairs by Box-Muller). The ziggurat
// method (Marsaglia and Tsang, 2000; 128 layers): almost every sample is 32 random bits, a
// table lookup, a compare and a multiply; the rare rest take the exact wedge or tail test.
// Each 64-bit draw gives two samples; in each 32-bit half, the layer and the value come
// from separate bits (the original shares them, a known flaw), and the value keeps 25 bits,
// a float's precision. The stream is xoshiro256** seeded through splitmix64: the same seed
// gives the same values on every machine and rank.
class NormalSampler {
 public:
  explicit NormalSampler(uint64_t seed);

  // out[i] = mean + stddev * (a standard normal sample), i < count.
  void fill(float* out, int64_t count, float mean, float stddev);
  // One standard normal sample (from a fresh draw; fill() uses both halves of each).
  double next();

 private:
  uint64_t next_bits();
  double next_open_unit();  // uniform in (0, 1)
  float sample(uint32_t half);
  float from_wedge_or_tail(int32_t value, int layer);

  uint64_t state_[4];
};

}  // namespace metaguard
