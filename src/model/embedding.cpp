#include "model/embedding.hpp"

#include <torch/torch.h>

namespace metaguard {

EmbeddingImpl::EmbeddingImpl(const EmbeddingOptions& opts) : options(opts) { reset(); }

void EmbeddingImpl::reset() {
  weight = register_parameter(
      "weight", torch::empty({options.num_embeddings(), options.embedding_dim()}, options.tensor_options()));
  declare_init("weight", InitRecipe::normal(0.0, 1.0));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& indices) { return torch::embedding(weight, indices); }

}  // namespace metaguard
