#pragma once
// Helpers shared by the model's unit and property tests (tests/unit/torch/model_*.cpp,
// tests/property/torch/model_*.cpp). Not a test file itself (the test globs take *.cpp).
#include <cstdint>
#include <string>
#include <unordered_set>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "model/gpt.hpp"
#include "model/gpt_config.hpp"
#include "repair/module_init.hpp"

namespace metaguard::test {

// A small config of the LLaMA family (RMSNorm, SwiGLU, sequential residual, no biases).
inline GPTConfig tiny_llama_config(int64_t n_head = 4, int64_t n_query_groups = 2, int64_t head_size = 8) {
  GPTConfig c;
  c.name = "tiny-llama";
  c.n_layer = 2;
  c.n_head = n_head;
  c.n_query_groups = n_query_groups;
  c.head_size = head_size;
  c.n_embd = n_head * head_size;
  c.intermediate_size = 3 * c.n_embd;
  c.vocab_size = 50;
  c.padded_vocab_size = 64;
  c.block_size = 16;
  c.rotary_percentage = 1.0;
  c.parallel_residual = false;
  c.bias = false;
  c.norm_class = NormClass::RMSNorm;
  c.mlp_class = MlpClass::LLaMAMLP;
  c.norm_eps = 1e-5;
  c.rope_base = 10000;
  return c;
}

// A small config of the GPT-NeoX (Pythia) family: LayerNorm, GELU MLP, parallel residual,
// biases, rotary embeddings on a quarter of each head.
inline GPTConfig tiny_neox_config() {
  GPTConfig c;
  c.name = "tiny-neox";
  c.n_layer = 2;
  c.n_head = 4;
  c.n_query_groups = 4;
  c.head_size = 8;
  c.n_embd = 32;
  c.intermediate_size = 128;
  c.vocab_size = 60;
  c.padded_vocab_size = 64;
  c.block_size = 16;
  c.rotary_percentage = 0.25;
  c.parallel_residual = true;
  c.bias = true;
  c.norm_class = NormClass::LayerNorm;
  c.mlp_class = MlpClass::GptNeoxMLP;
  return c;
}

// What the lead's materializer does, reduced to its core for tests: every meta parameter
// and buffer gets CPU storage in place (same TensorImpl, so aliases and ties survive), then
// the declared init and derived recipes fill it.
inline void materialize_for_test(torch::nn::Module& root, uint64_t seed) {
  std::unordered_set<c10::TensorImpl*> swapped;
  auto swap_in = [&](torch::Tensor& tensor) {
    if (!tensor.defined() || !tensor.is_meta() || !swapped.insert(tensor.unsafeGetTensorImpl()).second) return;
    torch::Tensor fresh = torch::empty(tensor.sizes(), tensor.options().device(torch::kCPU));
    tensor.unsafeGetTensorImpl()->shallow_copy_from(fresh.getIntrusivePtr());
  };
  for (auto& item : root.named_parameters()) swap_in(item.value());
  for (auto& item : root.named_buffers()) swap_in(item.value());
  initialize_module(root, seed);
}

// Every parameter and buffer of `a` equals `b`'s of the same name, bit for bit; the name
// lists are equal too. Returns the first difference, or "" when identical.
inline std::string first_difference(torch::nn::Module& a, torch::nn::Module& b) {
  auto compare = [](const torch::OrderedDict<std::string, torch::Tensor>& x,
                    const torch::OrderedDict<std::string, torch::Tensor>& y) -> std::string {
    if (x.size() != y.size()) return "different tensor counts";
    for (size_t i = 0; i < x.size(); ++i) {
      const auto& left = x[i];
      const auto& right = y[i];
      if (left.key() != right.key()) return "name " + left.key() + " vs " + right.key();
      if (!left.value().sizes().equals(right.value().sizes()) || left.value().dtype() != right.value().dtype() ||
          !torch::equal(left.value(), right.value())) {
        return "values of " + left.key();
      }
    }
    return "";
  };
  std::string params = compare(a.named_parameters(), b.named_parameters());
  if (!params.empty()) return params;
  return compare(a.named_buffers(), b.named_buffers());
}

inline torch::Tensor random_tokens(int64_t batch, int64_t steps, int64_t vocab, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  return torch::randint(vocab, {batch, steps}, generator, torch::TensorOptions().dtype(torch::kInt64));
}

}  // namespace metaguard::test
