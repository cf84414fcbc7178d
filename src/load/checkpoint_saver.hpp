#pragma once
#include <string>

#include <torch/nn/module.h>

#include "load/qkv_layout.hpp"

namespace metaguard {

struct SaveOptions {
  // Only the LoRA adapters (lora_A, lora_B: GPT::lora_state_dict()'s tensors), what a LoRA
  // fine-tune saves; otherwise every parameter and persistent buffer.
  bool lora_only = false;
  // The base model's keys, as LitGPT's merge_lora writes a merged LoRA model: adapters left
  // out, "<x>.linear.weight" written as "<x>.weight" (merge the adapters first).
  bool base_model_keys = false;
  // How a GPT's fused attention projection is written: LitGPT's current layout
  // (`attn.qkv`, what LitGPT 0.5 loads strictly) unless the run loaded the older one.
  QkvLayout layout = QkvLayout::Grouped;
};

// Saves a live module's parameters and persistent buffers (never the non-persistent,
// derived ones: no state dict holds them) as a torch.save zip checkpoint that Python's
// torch.load(path, weights_only=True) reads back with identical tensors. Names are the
// module's qualified names (for a GPT in the grouped layout, `attn.attn` is written as
// `attn.qkv` with the fused rows reordered); tensors that share a storage (tied weights: one tensor under
// two names) are written as one storage that both entries view, as torch.save does.
// Written atomically (temporary file, fsync, rename): a crash mid-write leaves the previous
// file intact. Throws InputError naming `path` when a tensor is on meta (it has no data to
// save) or the file cannot be written.
void save_checkpoint(torch::nn::Module& model, const std::string& path, const SaveOptions& options = {});

}  // namespace metaguard
