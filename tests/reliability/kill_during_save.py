"""Kills `metaguard train` at random moments while it saves checkpoints, and checks what the
reliability issue asks: after every kill the checkpoint run.json names still loads (PyTorch
itself reads it), no file under a final name is ever partial, `--resume` continues to the
losses of an uninterrupted run, and once the resumed run has saved no temporary file is
left anywhere in the run folder.

    python3 tests/reliability/kill_during_save.py --metaguard build/metaguard [--trials 50]
        [--seed 1] [--summary FILE]

Each trial's kill comes from random.Random(seed + trial), so a failing trial can be replayed
alone (--trials 1 --seed S): odd seeds kill at a random moment of the saving part of the run
(a fraction of it, measured afresh by each invocation), even seeds right after the n-th
temporary checkpoint file appears (n random). Exit 0 when every trial passes; the summary (JSON)
records every trial's seed, delay and what was found."""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FINAL_SUFFIXES = (".pt", ".pth", ".lora", ".json", ".yaml")


def train_command(metaguard, out, resume=False):
    command = [metaguard, "train", "--model", "micro", "--nproc", "1", "--steps", "10", "--save-every", "1",
               "--save-full", "--seq-len", "32", "--global-batch", "4", "--format", "json",
               "--out", str(out)]
    return command + (["--resume", str(out)] if resume else [])


def temporaries(folder):
    """Temporary files anywhere in the run folder (os.walk: folders may vanish meanwhile)."""
    found = []
    for parent, _, files in os.walk(folder):
        found.extend(os.path.relpath(os.path.join(parent, name), folder) for name in files if ".tmp." in name)
    return sorted(found)


def load_everything(folder):
    """Every file under a final name must be whole: PyTorch loads each checkpoint, JSON parses."""
    import torch

    problems = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or ".tmp." in path.name or not path.name.endswith(FINAL_SUFFIXES):
            continue
        try:
            if path.name.endswith(".json"):
                json.loads(path.read_text())
            elif path.name.endswith(".yaml"):
                path.read_text()
            else:
                torch.load(path, weights_only=True)
        except Exception as error:  # noqa: BLE001 (any failure to read is what we look for)
            problems.append(f"{path.relative_to(folder)}: {type(error).__name__}: {error}")
    return problems


def named_checkpoint_loads(folder):
    import torch

    state = json.loads((folder / "run.json").read_text())
    for key in ("weights", "optimizer"):
        torch.load(folder / state[key], weights_only=True)
    return state["step"]


def run_to_end(metaguard, out, resume):
    done = subprocess.run(train_command(metaguard, out, resume), capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"train{' --resume' if resume else ''} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout)["training"]["losses"]


def trial(metaguard, work, seed, window, reference):
    rng = random.Random(seed)
    out = work / f"run-{seed}"
    process = subprocess.Popen(train_command(metaguard, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while not (out / "run.json").exists():  # the first checkpoint is complete
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"seed {seed}: the run ended before its first checkpoint")
        time.sleep(0.002)
    # Half the kills land at a random moment of the run's saving part; the other half wait
    # for the n-th temporary file of a checkpoint write to appear and strike within 2 ms of
    # it, so many kills hit a file while it is written, flushed or renamed.
    targeted = seed % 2 == 0
    delay = rng.uniform(0, window) if not targeted else rng.uniform(0, 0.002)
    if targeted:
        wanted, seen = rng.randint(1, 24), set()
        while len(seen) < wanted and process.poll() is None:
            seen.update(temporaries(out))
        time.sleep(delay)
    else:
        time.sleep(delay)
    running = process.poll() is None
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        running = False  # the run had just finished
    process.wait()
    result = {"seed": seed, "targeted": targeted, "delay_s": round(delay, 4), "killed_while_running": running,
              "temporaries_at_kill": temporaries(out)}
    result["step_named"] = named_checkpoint_loads(out)
    result["partial_files"] = load_everything(out)
    if running:
        losses = run_to_end(metaguard, out, resume=True)
        result["losses_equal"] = len(losses) == len(reference) and all(
            abs(a - b) <= 1e-5 * max(1.0, abs(b)) for a, b in zip(losses, reference))
    else:  # a finished run has nothing to resume; its files were checked all the same
        result["losses_equal"] = True
    result["temporaries_after_resume"] = temporaries(out)
    result["passed"] = (not result["partial_files"] and result["losses_equal"]
                        and not result["temporaries_after_resume"])
    shutil.rmtree(out, ignore_errors=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metaguard", required=True)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--summary", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="metaguard-kill-") as scratch:
        work = Path(scratch)
        # The uninterrupted run: the losses every resumed run must reach, and how long the
        # saving part of a run lasts (kills land anywhere in it).
        start = time.monotonic()
        process = subprocess.Popen(train_command(args.metaguard, work / "reference"), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        while not (work / "reference" / "run.json").exists() and process.poll() is None:
            time.sleep(0.002)
        first_save = time.monotonic() - start
        stdout, stderr = process.communicate(timeout=300)
        if process.returncode != 0:
            sys.exit(f"the reference run failed: {stderr[-2000:]}")
        reference = json.loads(stdout)["training"]["losses"]
        window = (time.monotonic() - start - first_save) * 0.9
        results = []
        for k in range(args.trials):
            try:
                results.append(trial(args.metaguard, work, args.seed + k, window, reference))
            except Exception as error:  # noqa: BLE001 (a trial that cannot even be checked has failed)
                results.append({"seed": args.seed + k, "passed": False, "error": f"{type(error).__name__}: {error}",
                                "temporaries_at_kill": [], "killed_while_running": False, "partial_files": [],
                                "losses_equal": False, "temporaries_after_resume": []})

    mid_write = sum(1 for r in results if r["temporaries_at_kill"])
    failed = [r for r in results if not r["passed"]]
    summary = {"trials": len(results), "window_s": round(window, 3), "landed_mid_write": mid_write,
               "killed_while_running": sum(r["killed_while_running"] for r in results), "failed": len(failed),
               "results": results}
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{len(results)} kills over a {window:.2f} s window of saves; {mid_write} landed while a checkpoint "
          f"file was being written (a temporary file was left); {len(failed)} failed")
    for r in failed:
        print(f"  seed {r['seed']}: {r.get('error', '')} partial files {r['partial_files']}, losses equal "
              f"{r['losses_equal']}, temporaries after resume {r['temporaries_after_resume']}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
