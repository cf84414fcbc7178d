"""Python peer of torch_core_bench: the same tree of 10,000 tensors, walked with
named_parameters() and named_buffers(). Run with Debian's python3 (python3-torch)."""
import json
import statistics
import sys
import time

import torch


class Leaf(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(64, 64, device="meta"))
        self.bias = torch.nn.Parameter(torch.empty(64, device="meta"))
        self.register_buffer("running_mean", torch.empty(64, device="meta"))
        self.register_buffer("index", torch.empty(8, dtype=torch.int64, device="meta"), persistent=False)


def main():
    tensors = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    root = torch.nn.Module()
    leaves, groups = tensors // 4, 50
    for g in range(groups):
        group = torch.nn.Module()
        for leaf in range(g, leaves, groups):
            group.add_module(f"l{leaf}", Leaf())
        root.add_module(f"g{g}", group)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        records = [(n, p.dtype, tuple(p.shape), p.device) for n, p in root.named_parameters()]
        records += [(n, b.dtype, tuple(b.shape), b.device) for n, b in root.named_buffers()]
        times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"tensors": len(records), "python_walk_ms": statistics.median(times)}, indent=2))


if __name__ == "__main__":
    main()
