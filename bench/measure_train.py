#!/usr/bin/python3
"""Runs the trainer benchmarks of bench/README-train.md and prints the figures as JSON.

  1. tokens/s: `metaguard train` and the Python peer (bench/train_python_peer.py: PyTorch
     DistributedDataParallel over Gloo), 2 ranks, pythia-14m with LoRA (query, value),
     micro-batch 4, sequence 128, the same corpus, the same BLAS, one thread per rank.
     Both report tokens over the optimizer steps divided by the time of those steps.
  2. guard cost: the seconds metaguard's guard points took during training (before each
     validation, before the first forward, before each save) against the step time, from
     the run's own report (rank 0's `train.guard_seconds_by_phase`, `train.train_seconds`).
  3. cross-rank hash comparison of a tinyllama-1.1b-sized model (4.4 GB per rank):
     build/bench/torch_train_hash_bench.

Usage: /usr/bin/python3 bench/measure_train.py [--build build] [--python PY] [--steps 20] [--skip-hash]
  Against a PyTorch 2.x wheel, side by side with the same torch:
  .venv/bin/python bench/measure_train.py --build build-torch2 --python .venv/bin/python --skip-hash
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def metaguard_run(build, steps, threads):
    with tempfile.TemporaryDirectory() as out:
        command = [os.path.join(build, "metaguard"), "train", "--nproc", "2", "--model", "pythia-14m",
                   "--micro-batch", "4", "--global-batch", "8", "--seq-len", "128", "--steps", str(steps),
                   "--warmup", "2", "--eval-every", "10", "--eval-sequences", "8", "--threads", str(threads),
                   "--out", out, "--format", "json"]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        report = json.loads(result.stdout)
        rank0 = json.load(open(os.path.join(out, "rank0.json")))
    train = rank0["train"]
    steps_done = len(report["training"]["losses"])
    by_phase = train["guard_seconds_by_phase"]
    in_training = sum(by_phase.get(p, 0.0) for p in ("before-validation", "before-forward", "before-save"))
    step_seconds = train["train_seconds"] / steps_done
    points = 0
    for phase in ("before-validation", "before-forward", "before-save"):
        points += {"before-validation": steps // 10 + 1, "before-forward": 1, "before-save": 1}[phase]
    return {
        "tokens_per_s": report["training"]["tokens_per_s"],
        "seconds_per_step": step_seconds,
        "guard_seconds_by_phase": by_phase,
        "guard_seconds_in_training": in_training,
        "guard_points_in_training": points,
        "guard_share_of_step_time": in_training / train["train_seconds"],
        "guard_seconds_per_point": in_training / points,
        "losses": report["training"]["losses"],
    }


def python_run(python, steps, threads):
    command = [python, os.path.join(HERE, "train_python_peer.py"), "--steps", str(steps),
               "--threads", str(threads), "--warmup", "2"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])


def hash_run(build, threads):
    env = dict(os.environ, METAGUARD_MODELS_DIR=os.path.join(ROOT, "fixtures", "models"))
    command = [os.path.join(build, "bench", "torch_train_hash_bench"), "--model", "tinyllama-1.1b",
               "--threads", str(threads), "--repeat", "3"]
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--skip-hash", action="store_true")
    parser.add_argument("--python", default="/usr/bin/python3", help="the Python (and so the torch) of the DDP peer")
    args = parser.parse_args()
    ours = metaguard_run(args.build, args.steps, args.threads)
    peer = python_run(args.python, args.steps, args.threads)
    figures = {
        "metaguard": {k: v for k, v in ours.items() if k != "losses"},
        "python_ddp": {k: v for k, v in peer.items() if k != "losses"},
        "speedup": ours["tokens_per_s"] / peer["tokens_per_s"],
        "threads_per_rank": args.threads,
        "peer_torch": subprocess.run([args.python, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                                     text=True).stdout.strip(),
        "metaguard_version": subprocess.run([os.path.join(args.build, "metaguard"), "--version"], capture_output=True,
                                            text=True).stdout.strip().splitlines(),
        "blas": os.path.realpath("/etc/alternatives/libblas.so.3-x86_64-linux-gnu"),
    }
    if not args.skip_hash:
        figures["hash_comparison_tinyllama"] = [
            {k: v for k, v in rank.items() if not isinstance(v, list)} for rank in hash_run(args.build, args.threads)]
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    sys.exit(main())
