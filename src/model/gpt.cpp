#include "model/gpt.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/errors.hpp"
#include "model/block.hpp"
#include "model/lora_linear.hpp"
#include "model/lora_qkv_linear.hpp"
#include "model/rope.hpp"
#include "repair/module_init.hpp"

namespace metaguard {

void check_lora_fits(const GPTConfig& config, const std::optional<LoRAConfig>& lora) {
  if (!lora) return;
  validate_lora_config(*lora);
  if (lora->head && config.tie_embeddings) {
    // Merging a head adapter would rewrite the shared storage, i.e. the embedding too.
    throw InputError(fmt::format(
        "--lora: target 'head' cannot be used with model '{}': tie_embeddings makes lm_head.weight the token "
        "embedding, so merging the head adapter would change the embedding as well",
        config.name));
  }
}

GPTImpl::GPTImpl(const BlockOptions& opts) : options(opts) {
  validate_gpt_config(options.config(), fmt::format("model '{}'", options.config().name));
  check_lora_fits(options.config(), options.lora());
  reset();
}

void GPTImpl::reset() {
  const GPTConfig& config = options.config();
  const auto& factory = options.tensor_options();
  lm_head = DenseLayer(*this, "lm_head",
                       LinearOptions(config.n_embd, config.padded_vocab_size)
                           .bias(config.lm_head_bias)
                           .shared_weight(config.tie_embeddings)
                           .tensor_options(factory),
                       options, options.lora() && options.lora()->head);
  transformer = register_module("transformer", Transformer(options));
  if (config.tie_embeddings) tie_head_to_embedding();

  // Derived buffers, recomputed from configuration captured by value (clone() copies modules).
  const int64_t block = config.block_size;
  const RopeSettings rope = rope_settings(config);
  const torch::Dtype dtype = torch::typeMetaToScalarType(factory.dtype());
  // (block_size, rope_n_elem), or (block_size, rope_n_elem, 2) with a local base, as LitGPT's.
  std::vector<int64_t> rope_shape = {block, rope.n_elem};
  if (rope.local_base) rope_shape.push_back(2);
  cos = register_buffer("cos", torch::empty(rope_shape, factory));
  sin = register_buffer("sin", torch::empty(rope_shape, factory));
  // The mask's rows for sequences up to kMaskCacheRows (longer ones build theirs in forward):
  // a 128k-token context would otherwise hold a 16 GiB mask that LitGPT never allocates.
  const int64_t mask_rows = std::min(block, kMaskCacheRows);
  mask_cache = register_buffer("mask_cache", torch::empty({mask_rows, mask_rows}, factory.dtype(torch::kBool)));
  declare_derived("cos", [block, rope, dtype](const torch::Device& device) {
    return build_rope_cache(block, rope, dtype, device).first;
  });
  declare_derived("sin", [block, rope, dtype](const torch::Device& device) {
    return build_rope_cache(block, rope, dtype, device).second;
  });
  declare_derived("mask_cache", [mask_rows](const torch::Device& device) { return build_causal_mask(mask_rows, device); });
}

void GPTImpl::tie_head_to_embedding() { lm_head.base().tie_weight(transformer->wte->weight); }

std::shared_ptr<torch::nn::Module> GPTImpl::clone(const torch::optional<torch::Device>& device) const {
  auto copy = std::dynamic_pointer_cast<GPTImpl>(torch::nn::Cloneable<GPTImpl>::clone(device));
  if (copy->config().tie_embeddings) copy->tie_head_to_embedding();
  return copy;
}

GPTImpl::BlockInputs GPTImpl::block_inputs(int64_t steps) {
  const GPTConfig& config = options.config();
  if (steps > config.block_size) {
    throw InputError(fmt::format("sequence length {} exceeds block_size {} of model '{}'", steps, config.block_size,
                                 config.name));
  }
  // A derived buffer left on meta would let ops dispatch to meta kernels and return
  // data-less logits instead of failing: refuse with the buffer's name.
  const torch::Device weights = transformer->wte->weight.device();
  for (const auto* buffer : {&cos, &sin, &mask_cache}) {
    TORCH_CHECK(buffer->device() == weights, "GPT: the derived buffer '",
                buffer == &cos ? "cos" : buffer == &sin ? "sin" : "mask_cache", "' is on ", buffer->device(),
                " but the weights are on ", weights, "; it was not recomputed after initialization on meta");
  }
  BlockInputs inputs;
  inputs.cos = cos.narrow(0, 0, steps);
  inputs.sin = sin.narrow(0, 0, steps);
  inputs.mask = steps <= mask_cache.size(0) ? mask_cache.narrow(0, 0, steps).narrow(1, 0, steps)
                                            : build_causal_mask(steps, weights);
  return inputs;
}

torch::Tensor GPTImpl::embed(const torch::Tensor& idx) {
  const GPTConfig& config = options.config();
  torch::Tensor x = transformer->wte->forward(idx);  // (B, T, n_embd)
  if (config.scale_embeddings) {
    // LitGPT multiplies by sqrt(n_embd) rounded to the activations' dtype first.
    x = x * torch::tensor(std::sqrt(static_cast<double>(config.n_embd)), x.options());
  }
  return x;
}

torch::Tensor GPTImpl::run_block(int64_t layer, const torch::Tensor& x, const BlockInputs& inputs) {
  // With a local base the cache holds both angle sets; each layer takes its own.
  torch::Tensor layer_cos = inputs.cos, layer_sin = inputs.sin;  // (T, rope_n_elem[, 2])
  if (options.config().rope_local_base_freq) {
    const int64_t which = options.config().local_rope_at(layer) ? 1 : 0;
    layer_cos = inputs.cos.select(-1, which);
    layer_sin = inputs.sin.select(-1, which);
  }
  return transformer->h[layer]->as<BlockImpl>()->forward(x, layer_cos, layer_sin, inputs.mask);
}

torch::Tensor GPTImpl::final_norm(const torch::Tensor& x) { return transformer->ln_f->forward(x); }

torch::Tensor GPTImpl::hidden(const torch::Tensor& idx) {
  TORCH_CHECK(idx.dim() == 2, "GPT::forward expects token ids of shape (B, T), got ", idx.sizes());
  const BlockInputs inputs = block_inputs(idx.size(1));
  torch::Tensor x = embed(idx);  // (B, T, n_embd)
  for (int64_t layer = 0; layer < options.config().n_layer; ++layer) x = run_block(layer, x, inputs);
  return final_norm(x);  // (B, T, n_embd)
}

torch::Tensor GPTImpl::head(const torch::Tensor& hidden) {
  const GPTConfig& config = options.config();
  torch::Tensor logits = lm_head.forward(hidden);  // (B, T, padded_vocab_size)
  if (config.final_logit_softcapping) {
    const double cap = *config.final_logit_softcapping;
    logits = torch::tanh(logits / cap) * cap;
  }
  return logits;
}

torch::Tensor GPTImpl::forward(const torch::Tensor& idx) { return head(hidden(idx)); }

void GPTImpl::merge_lora() {
  for (const auto& module : modules()) {
    if (auto* layer = dynamic_cast<LoRALinearImpl*>(module.get())) layer->merge();
    if (auto* layer = dynamic_cast<LoRAQKVLinearImpl*>(module.get())) layer->merge();
  }
}

void GPTImpl::unmerge_lora() {
  for (const auto& module : modules()) {
    if (auto* layer = dynamic_cast<LoRALinearImpl*>(module.get())) layer->unmerge();
    if (auto* layer = dynamic_cast<LoRAQKVLinearImpl*>(module.get())) layer->unmerge();
  }
}

bool is_lora_parameter_name(std::string_view qualified_name) {
  auto dot = qualified_name.rfind('.');
  std::string_view local = dot == std::string_view::npos ? qualified_name : qualified_name.substr(dot + 1);
  return local.substr(0, 5) == "lora_";
}

void GPTImpl::mark_only_lora_trainable() {
  for (auto& item : named_parameters()) item.value().requires_grad_(is_lora_parameter_name(item.key()));
}

torch::OrderedDict<std::string, torch::Tensor> GPTImpl::lora_state_dict() const {
  torch::OrderedDict<std::string, torch::Tensor> adapters;
  for (const auto& item : named_parameters()) {
    if (is_lora_parameter_name(item.key())) adapters.insert(item.key(), item.value());
  }
  return adapters;
}

std::vector<std::string> GPTImpl::derived_buffer_names() const {
  std::vector<std::string> names;
  for (const auto& item : named_modules()) {
    const auto* declarations = dynamic_cast<const TensorDeclarations*>(item.value().get());
    if (!declarations) continue;
    for (const auto& buffer : item.value()->named_buffers(/*recurse=*/false)) {
      if (declarations->derived_recipe(buffer.key())) {
        names.push_back(item.key().empty() ? buffer.key() : item.key() + "." + buffer.key());
      }
    }
  }
  return names;
}

std::string to_base_key(std::string_view key) {
  for (std::string_view leaf : {std::string_view(".linear.weight"), std::string_view(".linear.bias")}) {
    if (key.size() > leaf.size() && key.substr(key.size() - leaf.size()) == leaf) {
      return std::string(key.substr(0, key.size() - leaf.size())) + std::string(leaf.substr(7));
    }
  }
  return std::string(key);
}

GPT build_gpt(const GPTConfig& config, const std::optional<LoRAConfig>& lora, const BuildOptions& build) {
  GPT model(BlockOptions(config).lora(lora).tensor_options(
      torch::TensorOptions().dtype(build.dtype).device(build.device)));
  if (!build.device.is_meta()) initialize_module(*model, build.seed, build.init_threads);
  return model;
}

}  // namespace metaguard
