#pragma once
#include <cstdint>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "walk/tensor_declarations.hpp"

namespace metaguard {

struct EmbeddingOptions {
  EmbeddingOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  TORCH_ARG(int64_t, num_embeddings);
  TORCH_ARG(int64_t, embedding_dim);
  TORCH_ARG(torch::TensorOptions, tensor_options) = {};
};

// A token lookup table with torch.nn.Embedding's parameter name (`weight`) and its default
// init, N(0, 1), which LitGPT's GPT keeps.
class EmbeddingImpl : public torch::nn::Cloneable<EmbeddingImpl>, public TensorDeclarations {
 public:
  explicit EmbeddingImpl(const EmbeddingOptions& options);

  void reset() override;
  torch::Tensor forward(const torch::Tensor& indices);  // (B, T) int64 -> (B, T, dim)

  EmbeddingOptions options;
  torch::Tensor weight;  // (num_embeddings, embedding_dim)
};

TORCH_MODULE(Embedding);

}  // namespace metaguard
