#!/usr/bin/python3
"""Sharded against replicated training, measured (bench/README.md "Sharded training"):
peak RSS of every rank and tokens/s of a real 2-rank `metaguard train` of tinyllama-1.1b
(4.4 GB of fp32 weights) with LoRA, once with --strategy replicate, once with shard, the same
seed, steps and data. Each rank is started the way torchrun starts it (RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT) as a child of this script, so os.wait4 gives each rank's own peak
RSS (ru_maxrss) as the kernel counted it. The expected bound for a shard rank is its slice
of the frozen weights plus the largest gathered unit plus 300 MB (issue "Sharded training").

Usage: /usr/bin/python3 bench/measure_shard.py [--build build] [--steps 2]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_measured(build, strategy, steps, seq_len, micro_batch, threads, checkpointing="auto"):
    """One 2-rank run; each rank reaped with os.wait4 for its peak RSS."""
    port = free_port()
    with tempfile.TemporaryDirectory() as out:
        pids = {}
        logs = {}
        for rank in range(2):
            env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2",
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), METAGUARD_SOURCE_DIR=ROOT)
            command = [os.path.join(build, "metaguard"), "train", "--model", "tinyllama-1.1b", "--strategy", strategy,
                       "--steps", str(steps), "--warmup", "1", "--global-batch", str(2 * micro_batch),
                       "--seq-len", str(seq_len), "--eval-every", "1000", "--eval-sequences", "2",
                       "--threads", str(threads), "--timeout", "600", "--format", "json",
                       "--activation-checkpointing", checkpointing]
            stdout = open(os.path.join(out, f"stdout{rank}"), "w")
            stderr = open(os.path.join(out, f"stderr{rank}"), "w")
            # Popen's object is dropped: the rank is reaped below with wait4, not by Popen.
            pids[subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr).pid] = rank
            logs[rank] = (stdout, stderr)
        peaks, codes = {}, {}
        while len(peaks) < 2:
            pid, status, usage = os.wait4(-1, 0)
            if pid in pids:
                peaks[pids[pid]] = usage.ru_maxrss * 1024  # kilobytes on Linux
                codes[pids[pid]] = os.waitstatus_to_exitcode(status)
        for stdout, stderr in logs.values():
            stdout.close()
            stderr.close()
        if any(codes.values()):
            sys.stderr.write(open(os.path.join(out, "stderr0")).read()[-3000:])
            raise SystemExit(f"{strategy}: ranks exited with {codes}")
        report = json.load(open(os.path.join(out, "stdout0")))
        log = open(os.path.join(out, "stderr0")).read()
    training = report["training"]
    return {
        "strategy": strategy,
        "activation_checkpointing": training.get("activation_checkpointing", False),
        "micro_batch": micro_batch,
        "seq_len": seq_len,
        "train_seconds_per_step": 2 * micro_batch * seq_len / training["tokens_per_s"],
        "peak_rss_bytes": [peaks[0], peaks[1]],
        "tokens_per_s": training["tokens_per_s"],
        "gather_seconds": training.get("gather_seconds", 0),
        "losses": training["losses"],
        "shards": report.get("shards", []),
        "log_tail": log.splitlines()[-4:],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    results = []
    # Memory: one sequence of 64 tokens per rank, so the weights are what the peak measures.
    # Speed: 4 x 256 tokens per rank and step, so a step's compute is what a fine-tuning step
    # does (the gathers cost the same per step whatever the batch). Shard twice: with
    # activation checkpointing (the default: each block recomputed in backward) and without.
    for micro_batch, seq_len in ((1, 64), (4, 256)):
        for strategy, checkpointing in (("replicate", "auto"), ("shard", "on"), ("shard", "off")):
            results.append(run_measured(args.build, strategy, args.steps, seq_len, micro_batch, args.threads,
                                        checkpointing))
            sys.stderr.write(json.dumps({k: results[-1][k] for k in ("strategy", "activation_checkpointing",
                                                                    "micro_batch", "seq_len",
                                                                    "peak_rss_bytes", "tokens_per_s",
                                                                    "gather_seconds")}) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
