#include "model/transformer.hpp"

#include <torch/torch.h>

#include "model/block.hpp"

namespace metaguard {

TransformerImpl::TransformerImpl(const BlockOptions& opts) : options(opts) { reset(); }

void TransformerImpl::reset() {
  const GPTConfig& config = options.config();
  const auto& factory = options.tensor_options();
  wte = register_module("wte", Embedding(EmbeddingOptions(config.padded_vocab_size, config.n_embd).tensor_options(factory)));
  h = register_module("h", torch::nn::ModuleList());
  for (int64_t layer = 0; layer < config.n_layer; ++layer) h->push_back(Block(options, layer));
  ln_f = register_module("ln_f", Norm(norm_options(config, config.n_embd, factory)));
}

}  // namespace metaguard
