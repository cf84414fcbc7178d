#include "repair/normal_sampler.hpp"

#include <cmath>

namespace metaguard {
namespace {

constexpr int kLayers = 128;
constexpr int kLayerBits = 7;
constexpr double kTailStart = 3.442619855899;       // x of the base layer's right edge
constexpr double kLayerArea = 9.91256303526217e-3;  // area of each layer (the base: with its tail)
constexpr double kValueScale = 16777216.0;          // |value| < 2^24

// Layer i spans [0, x[i]] (x[kLayers-1] = kTailStart, narrowing upwards; the base layer,
// 0, is wider and carries the tail). A value whose magnitude is under accept[i] lies in the
// part of the layer entirely below the curve and is returned at once.
struct ZigguratTables {
  uint32_t accept[kLayers];
  double width[kLayers];  // x[i] / 2^24: value to x
  float width_float[kLayers];
  double density[kLayers];  // exp(-x[i]^2 / 2)

  ZigguratTables() {
    double x = kTailStart;
    const double tail_density = std::exp(-0.5 * x * x);
    const double base_width = kLayerArea / tail_density;
    accept[0] = static_cast<uint32_t>(x / base_width * kValueScale);
    accept[1] = 0;
    width[0] = base_width / kValueScale;
    width[kLayers - 1] = x / kValueScale;
    density[0] = 1.0;
    density[kLayers - 1] = tail_density;
    for (int i = kLayers - 2; i >= 1; --i) {
      const double outer = x;
      x = std::sqrt(-2.0 * std::log(kLayerArea / x + std::exp(-0.5 * x * x)));
      accept[i + 1] = static_cast<uint32_t>(x / outer * kValueScale);
      density[i] = std::exp(-0.5 * x * x);
      width[i] = x / kValueScale;
    }
    for (int i = 0; i < kLayers; ++i) width_float[i] = static_cast<float>(width[i]);
  }
};

const ZigguratTables kTables;

inline uint64_t rotate_left(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

NormalSampler::NormalSampler(uint64_t seed) {
  for (auto& word : state_) word = splitmix64(seed);
}

inline uint64_t NormalSampler::next_bits() {
  const uint64_t result = rotate_left(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotate_left(state_[3], 45);
  return result;
}

double NormalSampler::next_open_unit() { return (static_cast<double>(next_bits() >> 11) + 0.5) * 0x1.0p-53; }

inline float NormalSampler::sample(uint32_t half) {
  const int layer = static_cast<int>(half & (kLayers - 1));
  const int32_t value = static_cast<int32_t>(half) >> kLayerBits;  // arithmetic: the sign is the top bit
  const uint32_t magnitude = static_cast<uint32_t>(value < 0 ? -value : value);
  if (magnitude < kTables.accept[layer]) return static_cast<float>(value) * kTables.width_float[layer];
  return from_wedge_or_tail(value, layer);
}

// The slow path (about 1% of samples): exact tests, drawing again until one is accepted.
float NormalSampler::from_wedge_or_tail(int32_t value, int layer) {
  for (;;) {
    if (layer == 0) {
      // Beyond the base rectangle: the tail x > kTailStart, by Marsaglia's exponential method.
      double x, y;
      do {
        x = -std::log(next_open_unit()) / kTailStart;
        y = -std::log(next_open_unit());
      } while (y + y < x * x);
      return static_cast<float>(value > 0 ? kTailStart + x : -kTailStart - x);
    }
    // In the wedge between the rectangle and the curve: kept when it falls under the curve.
    const double x = static_cast<double>(value) * kTables.width[layer];
    const double height = kTables.density[layer] + next_open_unit() * (kTables.density[layer - 1] - kTables.density[layer]);
    if (height < std::exp(-0.5 * x * x)) return static_cast<float>(x);
    const uint32_t half = static_cast<uint32_t>(next_bits());
    layer = static_cast<int>(half & (kLayers - 1));
    value = static_cast<int32_t>(half) >> kLayerBits;
    const uint32_t magnitude = static_cast<uint32_t>(value < 0 ? -value : value);
    if (magnitude < kTables.accept[layer]) return static_cast<float>(value) * kTables.width_float[layer];
  }
}

double NormalSampler::next() { return sample(static_cast<uint32_t>(next_bits())); }

void NormalSampler::fill(float* out, int64_t count, float mean, float stddev) {
  int64_t i = 0;
  for (; i + 1 < count; i += 2) {
    const uint64_t bits = next_bits();
    out[i] = mean + stddev * sample(static_cast<uint32_t>(bits));
    out[i + 1] = mean + stddev * sample(static_cast<uint32_t>(bits >> 32));
  }
  if (i < count) out[i] = mean + stddev * sample(static_cast<uint32_t>(next_bits()));
}

}  // namespace metaguard
