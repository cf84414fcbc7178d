#include "walk/init_recipe.hpp"

#include <cmath>

#include <fmt/format.h>

namespace metaguard {

InitRecipe InitRecipe::kaiming_uniform(int64_t fan_in) {
  // kaiming_uniform_(a = sqrt(5)): gain = sqrt(2 / (1 + 5)), bound = gain * sqrt(3 / fan_in)
  // = 1 / sqrt(fan_in).
  double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  return uniform(-bound, bound);
}

InitRecipe InitRecipe::linear_bias(int64_t fan_in) {
  double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  return uniform(-bound, bound);
}

std::string InitRecipe::describe() const {
  switch (kind) {
    case Kind::Zeros: return "zeros";
    case Kind::Ones: return "ones";
    case Kind::Constant: return fmt::format("constant {}", a);
    case Kind::Uniform: return fmt::format("uniform({:.4g}, {:.4g})", a, b);
    case Kind::Normal: return fmt::format("normal({:.4g}, {:.4g})", a, b);
    case Kind::Custom: return "custom";
  }
  return "custom";
}

}  // namespace metaguard
