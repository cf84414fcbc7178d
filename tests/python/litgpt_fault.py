"""LitGPT pieces shared by the tests: a tiny LoRA config, LitGPT issue 1378's fault put back
into today's LitGPT, and the index recipe a user declares to repair it."""
import contextlib

import torch
from litgpt.lora import Config
from litgpt.lora import GPT, LoRAQKVLinear


def tiny_lora_config():
    """A LoRA GPT small enough for CPU tests, with grouped queries and LoRA on Q and V only,
    so the index skips the keys (the case where a wrong index shows)."""
    return Config(
        n_layer=2, n_head=4, n_query_groups=2, n_embd=32, block_size=16, vocab_size=64, padded_vocab_size=64,
        bias=True, lora_r=4, lora_alpha=8, lora_dropout=0.0, lora_query=True, lora_key=False, lora_value=True,
        lora_projection=True, lora_mlp=True, lora_head=True,
    )


def lora_index(qkv):
    """The recipe for LoRAQKVLinear's index: positions of the fused output rows that get a
    LoRA update (queries, then keys, then values), written from LitGPT's documented layout."""
    q_size = qkv.head_size * qkv.n_head
    kv_size = qkv.head_size * qkv.n_query_groups
    ranges = []
    enable_q, enable_k, enable_v = qkv.enable_lora
    if enable_q:
        ranges.append(torch.arange(0, q_size))
    if enable_k:
        ranges.append(torch.arange(q_size, q_size + kv_size))
    if enable_v:
        ranges.append(torch.arange(q_size + kv_size, qkv.linear.out_features))
    return torch.cat(ranges)


@contextlib.contextmanager
def meta_born_lora_index():
    """LitGPT's LoRAQKVLinear as it was at issue 1378: the index is a plain tensor attribute
    built in __init__ on the device the layer is built on, so a model built on meta keeps a
    meta index that no checkpoint load, broadcast or to_empty() ever touches."""
    original_init = LoRAQKVLinear.__init__
    original_property = LoRAQKVLinear.lora_ind

    def init_with_index(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.__dict__["lora_ind"] = lora_index(self).to(self.linear.weight.device)

    LoRAQKVLinear.__init__ = init_with_index
    # Layers built before the patch (the reference) keep today's lazy index.
    LoRAQKVLinear.lora_ind = property(
        lambda self: self.__dict__["lora_ind"] if "lora_ind" in self.__dict__ else original_property.fget(self))
    try:
        yield
    finally:
        LoRAQKVLinear.__init__ = original_init
        LoRAQKVLinear.lora_ind = original_property


def qkv_layers(model):
    return [m for m in model.modules() if isinstance(m, LoRAQKVLinear)]


def reference_model(config, seed=0):
    torch.manual_seed(seed)
    return GPT(config)
