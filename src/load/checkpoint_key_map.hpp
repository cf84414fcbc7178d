#pragma once
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "checkpoint/checkpoint_reader.hpp"
#include "load/qkv_layout.hpp"

namespace metaguard {

// How a model's tensor names find their checkpoint keys.
enum class KeyMapping {
  Identity,  // a model name is its key
  // A LoRA model (LitGPT's lora.GPT): a name is looked up as itself, then as
  // to_base_key(name) ("x.linear.weight" -> "x.weight"), so base checkpoints load too.
  LoraBase,
};

// The checkpoint's keys, indexed once, as a loader sees them: under a key mapping, in the
// file's QKV layout (told by its key names: a model's `attn.attn` is the file's `attn.qkv`
// when the file is in LitGPT's current layout), and with some keys hidden (the
// partial-checkpoint fault: "the file lacks these").
class CheckpointKeyMap {
 public:
  using KeyFilter = std::function<bool(const std::string& checkpoint_key)>;

  CheckpointKeyMap(const CheckpointFile& file, KeyMapping mapping, KeyFilter hidden = {});

  // The index (into file.tensors()) of the entry that holds a model tensor's values, and
  // the key it was found under; std::nullopt when the (visible) checkpoint lacks it.
  struct Match {
    size_t entry;
    std::string key;
    bool reorder_rows = false;  // a fused QKV weight or bias stored in the grouped layout
  };
  std::optional<Match> find(const std::string& model_name) const;
  bool provides(const std::string& model_name) const { return find(model_name).has_value(); }

  // Under LoraBase: the checkpoint holds no LoRA adapter (lora_A, lora_B) at all, so the
  // model's adapters are not expected from it (they are initialized instead, as LitGPT
  // loads base weights into lora.GPT with strict=False).
  bool base_only() const { return base_only_; }
  KeyMapping mapping() const { return mapping_; }
  QkvLayout layout() const { return layout_; }
  bool hidden(const std::string& checkpoint_key) const { return hidden_ && hidden_(checkpoint_key); }

 private:
  const CheckpointFile& file_;
  KeyMapping mapping_;
  QkvLayout layout_ = QkvLayout::Interleaved;
  KeyFilter hidden_;
  std::unordered_map<std::string, size_t> by_key_;
  bool base_only_ = true;
};

}  // namespace metaguard
