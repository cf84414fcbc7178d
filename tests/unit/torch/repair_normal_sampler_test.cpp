// The normal sampler behind the random init recipes: the right distribution (moments and
// tail probabilities against the normal CDF from std::erfc), determinism by seed, and the
// recipe using it for every floating dtype.
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "repair/recipe_fill.hpp"
#include "repair/normal_sampler.hpp"

using metaguard::InitRecipe;
using metaguard::NormalSampler;

namespace {

std::vector<float> draw(uint64_t seed, int64_t count, float mean = 0, float stddev = 1) {
  std::vector<float> values(static_cast<size_t>(count));
  NormalSampler(seed).fill(values.data(), count, mean, stddev);
  return values;
}

// P(|X| > t) for a standard normal X.
double two_sided_tail(double t) { return std::erfc(t / std::sqrt(2.0)); }

}  // namespace

TEST_CASE("normal sampler: mean, variance and tails of a standard normal", "[repair][init]") {
  const int64_t n = 1 << 23;
  std::vector<float> values = draw(2024, n);
  double sum = 0, squares = 0, fourth = 0;
  for (float v : values) {
    sum += v;
    squares += static_cast<double>(v) * v;
    fourth += std::pow(static_cast<double>(v), 4);
  }
  const double count = static_cast<double>(n);
  // Bounds of 5 standard errors: a correct sampler fails them about once in 3 million runs.
  CHECK(std::abs(sum / count) < 5 * std::sqrt(1 / count));
  CHECK(std::abs(squares / count - 1) < 5 * std::sqrt(2 / count));
  CHECK(std::abs(fourth / count - 3) < 5 * std::sqrt(96 / count));
  // 3.5 and 4 lie beyond the base layer: only the tail method produces them.
  for (double t : {0.5, 1.0, 2.0, 3.0, 3.5, 4.0}) {
    int64_t beyond = 0;
    for (float v : values) beyond += std::abs(v) > t;
    const double p = two_sided_tail(t);
    const double observed = static_cast<double>(beyond) / count;
    INFO("P(|x| > " << t << "): " << observed << ", expected " << p);
    CHECK(std::abs(observed - p) < 5 * std::sqrt(p * (1 - p) / count));
  }
}

TEST_CASE("normal sampler: the same seed gives the same values, another seed others", "[repair][init]") {
  CHECK(draw(7, 4097) == draw(7, 4097));
  CHECK(draw(7, 4097) != draw(8, 4097));
  // mean + stddev * z, sample by sample.
  std::vector<float> standard = draw(9, 1001);
  std::vector<float> shifted = draw(9, 1001, 2.0f, 0.5f);
  for (size_t i = 0; i < standard.size(); ++i) CHECK(shifted[i] == Approx(2.0f + 0.5f * standard[i]).margin(1e-6));
}

TEST_CASE("normal recipe: every floating dtype, the same values whatever the thread count", "[repair][init]") {
  for (auto dtype : {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16}) {
    torch::Tensor one = torch::empty({3, metaguard::kInitChunkElements}, dtype);
    torch::Tensor two = torch::empty_like(one);
    fill_by_recipe(one, InitRecipe::normal(0.5, 2.0), 11, "w", 1);
    fill_by_recipe(two, InitRecipe::normal(0.5, 2.0), 11, "w", 2);
    INFO(dtype);
    CHECK(torch::equal(one, two));
    CHECK(one.to(torch::kDouble).mean().item<double>() == Approx(0.5).margin(0.01));
    CHECK(one.to(torch::kDouble).std().item<double>() == Approx(2.0).margin(0.01));
  }
  // Integer tensors have no normal values: refused, as LibTorch's normal_ refuses them.
  torch::Tensor integers = torch::empty({16}, torch::kInt64);
  CHECK_THROWS(fill_by_recipe(integers, InitRecipe::normal(0, 1), 11, "i", 1));
}
