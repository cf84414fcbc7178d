#include "model/rope.hpp"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

namespace metaguard {
namespace {

constexpr double kPi = 3.14159265358979323846;

// YaRN's magnitude correction for a context `scale` times longer.
double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

// The dimension at which a frequency completes `rotations` turns over the original context.
double yarn_correction_dim(double rotations, int64_t n_elem, double base, double max_positions) {
  return (static_cast<double>(n_elem) * std::log(max_positions / (rotations * 2 * kPi))) / (2 * std::log(base));
}

torch::Tensor inverse_frequencies(double base, int64_t n_elem, const torch::TensorOptions& f32) {
  torch::Tensor exponents = torch::arange(0, n_elem, 2, f32) / static_cast<double>(n_elem);  // (n_elem/2)
  return torch::pow(base, exponents).reciprocal();
}

// theta after the configured adjustment; `attention` receives YaRN's cos/sin scale.
torch::Tensor adjusted_frequencies(const RopeSettings& s, const torch::TensorOptions& f32, double& attention) {
  torch::Tensor theta = inverse_frequencies(s.base, s.n_elem, f32);
  attention = 1.0;
  if (!s.adjustments) return theta;
  const RopeAdjustments& a = *s.adjustments;
  switch (a.kind) {
    case RopeAdjustments::Kind::Linear:
      return theta / a.factor;
    case RopeAdjustments::Kind::Llama3: {
      // Long wavelengths are slowed by `factor`, short ones kept, a smooth blend between.
      torch::Tensor wavelength = theta.reciprocal() * (2 * kPi);
      torch::Tensor ratio = wavelength.reciprocal() * a.original_max_seq_len;
      torch::Tensor smooth = ((ratio - a.low_freq_factor) / (a.high_freq_factor - a.low_freq_factor)).clamp(0.0, 1.0);
      return (1 - smooth) * (theta / a.factor) + smooth * theta;
    }
    case RopeAdjustments::Kind::YaRN: {
      if (a.mscale != 0 && a.mscale_all_dim != 0) {
        attention = yarn_mscale(a.factor, a.mscale) / yarn_mscale(a.factor, a.mscale_all_dim);
      } else if (a.mscale_all_dim != 0) {
        attention = yarn_mscale(a.factor, a.mscale_all_dim);
      } else if (a.mscale != 0) {
        attention = yarn_mscale(a.factor, a.mscale);
      }
      torch::Tensor positions = torch::pow(s.base, torch::arange(0, s.n_elem, 2, f32) / static_cast<double>(s.n_elem));
      torch::Tensor extrapolation = positions.reciprocal();
      torch::Tensor interpolation = (positions * a.factor).reciprocal();
      double low = std::floor(yarn_correction_dim(a.beta_fast, s.n_elem, s.base, a.original_max_seq_len));
      double high = std::ceil(yarn_correction_dim(a.beta_slow, s.n_elem, s.base, a.original_max_seq_len));
      low = std::max(low, 0.0);
      high = std::min(high, static_cast<double>(s.n_elem / 2 - 1));
      if (low == high) high += 0.001;  // no zero-width ramp
      torch::Tensor ramp = ((torch::arange(s.n_elem / 2, f32) - low) / (high - low)).clamp(0.0, 1.0);
      return interpolation * (1 - ramp) + extrapolation * ramp;
    }
  }
  return theta;
}

}  // namespace

RopeSettings rope_settings(const GPTConfig& config) {
  RopeSettings settings;
  settings.n_elem = config.rope_n_elem();
  settings.base = config.rope_base;
  settings.condense_ratio = config.rope_condense_ratio;
  settings.adjustments = config.rope_adjustments;
  settings.local_base = config.rope_local_base_freq;
  return settings;
}

std::pair<torch::Tensor, torch::Tensor> build_rope_cache(int64_t seq_len, const RopeSettings& settings,
                                                         torch::Dtype dtype, const torch::Device& device) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  double attention = 1.0;
  torch::Tensor theta = adjusted_frequencies(settings, f32, attention);                          // (n_elem/2)
  torch::Tensor positions = torch::arange(seq_len, f32) / static_cast<double>(settings.condense_ratio);  // (seq_len)
  torch::Tensor angles = torch::outer(positions, theta).repeat({1, 2});                         // (seq_len, n_elem)
  if (settings.local_base) {
    torch::Tensor local = inverse_frequencies(*settings.local_base, settings.n_elem, f32);
    angles = torch::stack({angles, torch::outer(positions, local).repeat({1, 2})}, -1);         // (seq_len, n_elem, 2)
  }
  return {(angles.cos() * attention).to(dtype), (angles.sin() * attention).to(dtype)};
}

double rope_attention_scale(const GPTConfig& config) {
  if (!config.rope_adjustments) return 1.0;
  const RopeAdjustments& a = *config.rope_adjustments;
  if (a.mscale_all_dim == 0) return 1.0;
  const double mscale = yarn_mscale(a.factor, a.mscale_all_dim);
  return mscale * mscale;
}

torch::Tensor apply_rope(const torch::Tensor& input, const torch::Tensor& cos, const torch::Tensor& sin,
                         bool interleaved) {
  torch::Tensor x = input;
  if (interleaved) {
    // [x0, x1, x2, x3, ...] -> [x0, x2, ..., x1, x3, ...]
    std::vector<int64_t> pairs = input.sizes().vec();
    const int64_t d = pairs.back();
    pairs.back() = d / 2;
    pairs.push_back(2);
    x = input.reshape(pairs).transpose(-1, -2).reshape(input.sizes());
  }
  const int64_t half = x.size(-1) / 2;
  torch::Tensor x1 = x.narrow(-1, 0, half);
  torch::Tensor x2 = x.narrow(-1, half, half);
  torch::Tensor rotated = torch::cat({-x2, x1}, -1);
  return (x * cos + rotated * sin).to(input.scalar_type());
}

torch::Tensor build_causal_mask(int64_t size, const torch::Device& device) {
  return torch::ones({size, size}, torch::TensorOptions().dtype(torch::kBool).device(device)).tril();
}

}  // namespace metaguard
