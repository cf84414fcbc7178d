#include "explain/cause_catalog.hpp"

namespace metaguard {

const std::vector<Cause>& cause_catalog() {
  static const std::vector<Cause> catalog = {
      {"meta-parameter",
       "the parameter was created on the meta device (shapes only, no storage) to build the model fast, and "
       "no later step gave it values: it was not materialized, loaded from the checkpoint, received from "
       "rank 0 or initialized",
       "materialize every meta tensor before it is used: to_empty, then load the checkpoint, broadcast from "
       "rank 0 or run the module's init; or run with --on-meta repair, which does this in place"},
      {"meta-buffer",
       "the persistent buffer was created on the meta device and neither a checkpoint load nor a broadcast "
       "restored it, and its module's init did not run after materialization",
       "load or broadcast the full state dict (buffers included) after materialization, or re-run the "
       "module's reset; --on-meta repair does this"},
      {"meta-nonpersistent-buffer",
       "a buffer computed at construction under the meta device is in no state dict, so no checkpoint load "
       "or broadcast restores it: only recomputing it after materialization gives it values, and nothing did",
       "recompute derived buffers after materialization (call the module's reset or its buffer recipe), run "
       "with --on-meta repair, or declare the buffer's recipe so the repair can rebuild it"},
      {"meta-checkpoint-entry",
       "the checkpoint was saved while this tensor was still on the meta device, so the file records its "
       "shape and dtype but holds no values",
       "save the checkpoint again from a model whose tensors are all materialized (run metaguard preflight "
       "first); until then, exclude this key when loading and initialize the tensor"},
      {"uninitialized-storage",
       "materialization (to_empty) allocated storage for a meta tensor, but nothing wrote to it afterwards: "
       "no init, no checkpoint load, no broadcast; nothing is on meta any more, so shape checks pass, yet "
       "the values are whatever the memory held",
       "after to_empty, initialize every tensor (reset_parameters), load it or receive it by broadcast; "
       "--on-meta repair initializes it from its module's recipe with a seed derived from its name"},
      {"stale-derived-buffer",
       "a derived buffer (LoRA index, rotary cache, mask) was computed before something it depends on "
       "changed (materialization, a move, a config change), so it no longer matches its recipe",
       "recompute derived buffers after every change they depend on; --on-meta repair recomputes them"},
      {"optimizer-stale-reference",
       "the optimizer was built before the tensor was replaced by a new object (materialized out of place, "
       "or moved with an assignment), so it updates a tensor the module no longer uses",
       "build the optimizer after materialization and device moves, or materialize in place (metaguard's "
       "repair keeps the same tensor object)"},
      {"tied-weights-broken",
       "tensors that shared one storage (e.g. the token embedding and the output head) were materialized "
       "one by one, so each got its own storage and they now train apart",
       "materialize in place, which keeps the sharing, or tie the weights again after materialization "
       "(assign the same parameter to both modules)"},
      {"mixed-devices",
       "some tensors were materialized or moved to another device than the rest of their module or the "
       "model's target, so a forward pass would mix devices",
       "materialize on the target device and move the whole model with one call after materialization"},
      {"rank-divergence",
       "replicas that must be identical differ between ranks: each rank initialized with its own seed, or a "
       "rank skipped the checkpoint load or the broadcast",
       "broadcast parameters from rank 0 after materialization, or derive init seeds from the tensor's name "
       "rather than the rank"},
      {"missing-key",
       "the model expects this key but the checkpoint does not have it, so loading left the tensor as it "
       "was (on meta after a meta init)",
       "use a checkpoint that matches the model's configuration, or initialize the tensors it lacks "
       "explicitly (LoRA weights are never in a base checkpoint and must be initialized)"},
      {"unexpected-key",
       "the checkpoint holds a key the model does not have: usually another model configuration or a "
       "renamed module",
       "check that the model configuration matches the checkpoint; rename or drop the key when converting"},
      {"shape-mismatch",
       "the checkpoint was written for another configuration (vocabulary, width or head count), so this "
       "tensor's shape differs from the model's",
       "use the model configuration the checkpoint was written for, or convert the checkpoint"},
      {"dtype-mismatch",
       "the checkpoint stores this tensor in another dtype than the model uses; loading converts it, which "
       "can lose precision",
       "load in the checkpoint's dtype, or convert the checkpoint once, deliberately"},
      {"nonfinite-values",
       "NaN or Inf values appeared: uninitialized memory, a diverging loss (learning rate too high) or an "
       "overflow in a low-precision dtype",
       "rule out uninitialized storage first; then lower the learning rate, clip gradients or use a wider "
       "dtype"},
      {"lora-trainability",
       "in a LoRA run only the adapters should train: base weights left trainable (or adapters frozen) "
       "change what the run optimizes and how much memory it needs",
       "freeze the base weights and mark only the LoRA weights trainable after building the model"},
      {"device-memory-exceeded",
       "a rank would hold more weights, gradients and optimizer state than its device has (--device-memory), "
       "before a single activation: the run would fail with an out-of-memory error at materialization",
       "shard the frozen weights across ranks (--strategy shard, FSDP), use more ranks, a 16-bit --precision, or "
       "train fewer parameters"},
      {"empty-shard",
       "a tensor has fewer elements than the ranks' slices cover, so some rank's slice of it is empty: it holds only "
       "padding and still takes part in every gather. Sharding code that skips a rank with nothing to hold leaves "
       "that rank's local shard on meta, and the first gather fails with 'Cannot copy out of meta tensor' (FSDP2, "
       "pytorch#164554)",
       "materialize every rank's local shard, empty ones included (metaguard's shard strategy does), or shard over "
       "fewer ranks"},
  };
  return catalog;
}

Cause cause_for(std::string_view code) {
  for (const auto& entry : cause_catalog()) {
    if (entry.code == code) return entry;
  }
  return {code, "this version of metaguard has no description of this code (the report may come from a newer one)",
          ""};
}

}  // namespace metaguard
