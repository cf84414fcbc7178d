#!/usr/bin/python3
"""Writes a TinyLlama-1.1B-shaped float32 state dict with torch.save (about 4.4 GB), named
as LitGPT names it (fixtures/models/tinyllama-1.1b.json), for timing `metaguard scan`.

    /usr/bin/python3 bench/make_tinyllama_checkpoint.py OUT.pt [--meta N]

--meta N leaves the last N entries on the meta device (as a checkpoint saved too early
would), which exercises the meta-checkpoint-entry path at full scale.
Needs about 4.5 GB of memory and disk. The file is over 4 GiB, so torch.save writes zip64.
"""
import argparse
import collections
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def shapes(config):
    c, qkv = config["n_embd"], (config["n_head"] + 2 * config["n_query_groups"]) * config["head_size"]
    out = [("transformer.wte.weight", (config["padded_vocab_size"], c))]
    for i in range(config["n_layer"]):
        p = f"transformer.h.{i}."
        out += [
            (p + "norm_1.weight", (c,)),
            (p + "attn.attn.weight", (qkv, c)),
            (p + "attn.proj.weight", (c, config["n_head"] * config["head_size"])),
            (p + "norm_2.weight", (c,)),
            (p + "mlp.fc_1.weight", (config["intermediate_size"], c)),
            (p + "mlp.fc_2.weight", (config["intermediate_size"], c)),
            (p + "mlp.proj.weight", (c, config["intermediate_size"])),
        ]
    out += [("transformer.ln_f.weight", (c,)), ("lm_head.weight", (config["padded_vocab_size"], c))]
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--meta", type=int, default=0)
    args = parser.parse_args()
    with open(os.path.join(HERE, "..", "fixtures", "models", "tinyllama-1.1b.json")) as f:
        config = json.load(f)
    torch.manual_seed(0)
    state = collections.OrderedDict()
    entries = shapes(config)
    for index, (name, shape) in enumerate(entries):
        on_meta = index >= len(entries) - args.meta
        state[name] = torch.empty(shape, device="meta") if on_meta else torch.empty(shape).normal_(std=0.02)
    torch.save(state, args.out)
    numel = sum(t.numel() for t in state.values())
    print(f"{args.out}: {len(state)} tensors, {numel / 1e9:.3f} B parameters, "
          f"{os.path.getsize(args.out) / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
