"""metaguard.check against the same walk and checks written in Python
(bench/python_check_peer.py), on LitGPT's llama-2-70b LoRA model built on meta, in one
process. Run with the environment that has the package (scripts/install-python-module.sh):

    .venv/bin/python bench/python_check_bench.py [REPEATS]

Prints the tensor count, then for each phase the median and range of REPEATS calls after
the first, for both, and the ratio."""
import statistics
import sys
import time
from pathlib import Path

import torch
from litgpt.lora import GPT, Config

import metaguard

sys.path.insert(0, str(Path(__file__).resolve().parent))
from python_check_peer import PythonPeer  # noqa: E402


def timed(call, repeats):
    call()  # the first call learns nothing metaguard keeps, but warms caches on both sides
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times), max(times)


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    config = Config.from_name("Llama-2-70b-hf", lora_r=8, lora_alpha=16, lora_query=True, lora_value=True)
    with torch.device("meta"):
        model = GPT(config)
    peer = PythonPeer()
    findings, summary = peer.check(model, "init")
    report = metaguard.check(model, "init")
    assert summary["tensors"] == report.summary["tensors"], (summary, report.summary)
    print(f"llama-2-70b LoRA (r=8, query+value) on meta: {report.summary['tensors']} tensors, "
          f"{sum(1 for _ in model.modules())} modules; torch {torch.__version__}; {repeats} calls each")
    for phase in ("init", "before-forward"):
        ours = timed(lambda: metaguard.check(model, phase), repeats)
        theirs = timed(lambda: peer.check(model, phase), repeats)
        count = len(metaguard.check(model, phase).findings)
        assert count == len(peer.check(model, phase)[0]), "both must find the same number of problems"
        print(f"{phase:15s} findings {count:4d}  metaguard.check {ours[0]:.2f} ms ({ours[1]:.2f}-{ours[2]:.2f})  "
              f"python peer {theirs[0]:.2f} ms ({theirs[1]:.2f}-{theirs[2]:.2f})  ratio {theirs[0] / ours[0]:.1f}x")


if __name__ == "__main__":
    main()
