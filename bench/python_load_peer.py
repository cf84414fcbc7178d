#!/usr/bin/python3
"""Python's path for what bench/torch_load_bench.cpp does: a TinyLlama-shaped model whose
parameters have storage but no values (what to_empty() gives after a meta build; no random
init is timed), then torch.load + load_state_dict, as a LitGPT fine-tune loads its base
checkpoint on PyTorch 1.13 (which has no load_state_dict(assign=True)). Reports the time of
torch.load + load_state_dict and the process's peak RSS. See bench/README-load.md.

    /usr/bin/python3 bench/python_load_peer.py CHECKPOINT [--config fixtures/models/tinyllama-1.1b.json]
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_tinyllama_checkpoint import shapes  # noqa: E402  (LitGPT's names and shapes)


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build(entries):
    """A module tree with LitGPT's qualified names; parameters allocated, not written."""
    root = torch.nn.Module()
    for name, shape in entries:
        *path, leaf = name.split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, torch.nn.Module())
            module = getattr(module, part)
        module.register_parameter(leaf, torch.nn.Parameter(torch.empty(shape)))
    return root


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("--config", default=os.path.join(HERE, "..", "fixtures", "models", "tinyllama-1.1b.json"))
    args = parser.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    model = build(shapes(config))
    tensor_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    before = rss_mib()
    start = time.perf_counter()
    state = torch.load(args.checkpoint, map_location="cpu")
    model.load_state_dict(state)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"checkpoint": args.checkpoint, "seconds": seconds, "tensor_bytes": tensor_bytes,
                      "rss_before_mib": before, "peak_rss_mib": peak, "torch": torch.__version__}, indent=2))


if __name__ == "__main__":
    main()
