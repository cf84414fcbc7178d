#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <torch/types.h>

namespace metaguard {

// How a parameter or persistent buffer gets its first values: plain data that the model
// declares (walk/tensor_declarations.hpp) and repair/recipe_fill.hpp carries out. Data, not a
// closure, so metaguard can fill a tensor in fixed-size chunks, each from its own random
// stream seeded by (run seed, tensor name, chunk): the bits do not depend on the number of
// threads, the order of tensors, or the rank that runs it.
struct InitRecipe {
  enum class Kind { Zeros, Ones, Constant, Uniform, Normal, Custom };
  Kind kind = Kind::Zeros;
  double a = 0;  // Constant: value; Uniform: low; Normal: mean
  double b = 0;  // Uniform: high; Normal: standard deviation
  // Kind::Custom only: fills the whole tensor from one generator (not chunked).
  std::function<void(torch::Tensor&, at::Generator&)> custom;

  static InitRecipe zeros() { return {Kind::Zeros, 0, 0, {}}; }
  static InitRecipe ones() { return {Kind::Ones, 0, 0, {}}; }
  static InitRecipe constant(double value) { return {Kind::Constant, value, 0, {}}; }
  static InitRecipe uniform(double low, double high) { return {Kind::Uniform, low, high, {}}; }
  static InitRecipe normal(double mean, double stddev) { return {Kind::Normal, mean, stddev, {}}; }
  // PyTorch's default for nn.Linear weights: kaiming_uniform_(a=sqrt(5)),
  // i.e. uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  static InitRecipe kaiming_uniform(int64_t fan_in);
  // PyTorch's default for nn.Linear biases: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  static InitRecipe linear_bias(int64_t fan_in);
  static InitRecipe custom_fill(std::function<void(torch::Tensor&, at::Generator&)> fill) {
    return {Kind::Custom, 0, 0, std::move(fill)};
  }

  std::string describe() const;
};

}  // namespace metaguard
