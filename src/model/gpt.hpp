#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/ordered_dict.h>

#include "model/block_options.hpp"
#include "model/dense_layer.hpp"
#include "model/transformer.hpp"
#include "walk/tensor_declarations.hpp"

namespace metaguard {

// A LitGPT GPT (or lora.GPT when built with a LoRA config), key for key:
//   lm_head, transformer.wte, transformer.h.{i}.{norm_1, attn.attn, attn.proj, norm_2, mlp.*},
//   transformer.ln_f, and the derived buffers cos, sin, mask_cache (and each
//   transformer.h.{i}.attn.attn.lora_ind). docs/MODEL.md lists every key.
// Every parameter has an init recipe; every derived buffer a recipe that recomputes it.
class GPTImpl : public torch::nn::Cloneable<GPTImpl>, public TensorDeclarations {
 public:
  // Throws InputError for an invalid config or LoRA config, or a LoRA head on tied embeddings.
  explicit GPTImpl(const BlockOptions& options);

  void reset() override;
  // A plain copy would untie lm_head from wte; this re-ties the copy.
  std::shared_ptr<torch::nn::Module> clone(
      const torch::optional<torch::Device>& device = torch::nullopt) const override;

  // idx (B, T) int64 token ids, T <= block_size -> logits (B, T, padded_vocab_size).
  torch::Tensor forward(const torch::Tensor& idx);
  // The same up to the final norm: (B, T) -> (B, T, n_embd), what lm_head reads.
  torch::Tensor hidden(const torch::Tensor& idx);

  // hidden() in its pieces, for a runner that does something between them (a sharded run
  // gathers each block's weights just before it): the rope angles and mask of a sequence
  // length, the token embedding, one block, the final norm.
  struct BlockInputs {
    torch::Tensor cos, sin, mask;  // (T, rope_n_elem[, 2]), (T, rope_n_elem[, 2]), (T, T)
  };
  BlockInputs block_inputs(int64_t steps);
  torch::Tensor embed(const torch::Tensor& idx);                                       // (B, T) -> (B, T, n_embd)
  torch::Tensor run_block(int64_t layer, const torch::Tensor& x, const BlockInputs& inputs);  // (B, T, n_embd)
  torch::Tensor final_norm(const torch::Tensor& x);                                    // (B, T, n_embd)
  torch::Tensor head(const torch::Tensor& hidden);  // (B, T, n_embd) -> logits (B, T, padded_vocab_size)

  // Adds every adapter's update into its pretrained weight (forward then skips the adapters);
  // unmerge_lora() takes them out again. Both are no-ops on layers already in that state.
  void merge_lora();
  void unmerge_lora();
  // requires_grad only on lora_A / lora_B (LitGPT's mark_only_lora_as_trainable, bias="none").
  void mark_only_lora_trainable();
  // The adapter parameters only, by qualified name (what a LoRA checkpoint holds).
  torch::OrderedDict<std::string, torch::Tensor> lora_state_dict() const;
  // Qualified names of the buffers that no checkpoint holds and a recipe recomputes.
  std::vector<std::string> derived_buffer_names() const;

  const GPTConfig& config() const { return options.config(); }
  const std::optional<LoRAConfig>& lora() const { return options.lora(); }

  BlockOptions options;
  DenseLayer lm_head;                 // registered first, as in LitGPT
  Transformer transformer{nullptr};
  torch::Tensor cos;                  // (block_size, rope_n_elem), derived
  torch::Tensor sin;                  // (block_size, rope_n_elem), derived
  torch::Tensor mask_cache;           // (R, R) bool, R = min(block_size, kMaskCacheRows), derived

 private:
  void tie_head_to_embedding();
};

TORCH_MODULE(GPT);

// The causal mask is cached for sequences up to this many tokens (16 MiB of bool).
constexpr int64_t kMaskCacheRows = 4096;

struct BuildOptions {
  torch::Device device = torch::kCPU;  // meta: shapes only, nothing allocated, nothing initialized
  torch::Dtype dtype = torch::kFloat32;
  uint64_t seed = 0;                   // run seed of the init recipes (direct builds)
  int init_threads = 1;
};

// The one construction path. On meta the model is returned as built (every tensor meta);
// on any other device it is initialized at once with initialize_module(model, seed), so a
// meta build materialized with the same seed gives the same bits.
GPT build_gpt(const GPTConfig& config, const std::optional<LoRAConfig>& lora, const BuildOptions& build = {});

// Throws InputError when the LoRA config cannot apply to this model.
void check_lora_fits(const GPTConfig& config, const std::optional<LoRAConfig>& lora);

// True for an adapter parameter name (its last component starts with "lora_"; the derived
// lora_ind is a buffer, never a parameter).
bool is_lora_parameter_name(std::string_view qualified_name);

// The base-model key of a LoRA model's key: "<x>.linear.weight" -> "<x>.weight" (and .bias),
// as LitGPT maps base checkpoints into lora.GPT. Other keys come back unchanged.
std::string to_base_key(std::string_view lora_model_key);

}  // namespace metaguard
