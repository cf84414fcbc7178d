"""Times whole processes: metaguard's front (--help, --version, scan), the torch helper
(preflight), and Python peers. Each command runs `repeats` times; prints median wall time
and the peak RSS of the children. Run with Debian's python3 from the repository root:
    /usr/bin/python3 bench/measure_startup.py [repeats]
"""
import json
import resource
import statistics
import subprocess
import sys
import time

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 20

COMMANDS = {
    "metaguard --help": ["build/metaguard", "--help"],
    "metaguard --version": ["build/metaguard", "--version"],
    "metaguard scan (small checkpoint)": ["build/metaguard", "scan", "fixtures/checkpoints/good/tied.pt"],
    "metaguard explain (report)": ["build/metaguard", "explain", "reports/preflight-lora-ind-meta/report.json"],
    "metaguard preflight (micro, 2 ranks)": ["build/metaguard", "preflight"],
    "metaguard preflight (llama-2-70b, 8 ranks, text to file)": [
        "build/metaguard", "preflight", "--model", "llama-2-70b", "--world-size", "8",
        "--out", "/tmp/metaguard-bench-70b.txt"],
    "metaguard preflight (llama-2-70b, 8 ranks, json to file)": [
        "build/metaguard", "preflight", "--model", "llama-2-70b", "--world-size", "8",
        "--format", "json", "--out", "/tmp/metaguard-bench-70b.json"],
    "python: import torch": ["/usr/bin/python3", "-c", "import torch"],
    "python: build llama-2-70b on meta and walk once": ["/usr/bin/python3", "bench/python_meta_peer.py"],
}


def measure(argv):
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main():
    results = {}
    for name, argv in COMMANDS.items():
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        ms = measure(argv)
        # ru_maxrss of children is the largest child so far: measure the big ones last.
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        results[name] = {"median_ms": round(ms, 1), "peak_rss_mb_so_far": round(max(rss, before) / 1024, 1)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
