"""Faults across two hosts: `metaguard train` as 2 hosts x 2 ranks (network namespaces on this
machine, real TCP between them, the torchrun environment), and what each fault below does to it.

    python3 tests/reliability/multi_host.py --metaguard build/metaguard [--faults kill,stop,...]
        [--timeout 8] [--summary FILE]

Faults (docs/RELIABILITY.md has the table these runs fill):
  kill     rank 2 (host B) SIGKILLed mid-step; then --resume from the last checkpoint
  stop     rank 3 (host B) frozen with SIGSTOP mid-step; then --resume
  cut      host B's link set down mid-step, a store request from host B half-sent; then, link up
           again, --resume
  latency  200 ms added to every packet between the hosts (a delaying router)
  loss     5% of the packets between the hosts dropped (the same router)
  kill0    rank 0, the store's host, SIGKILLed mid-step

Every fault's run is compared with a clean 2x2 run of the same seed: the ranks that survive
must all exit within twice the collective timeout of the fault, with a report that names the
rank(s) and host at fault; resumed and slowed runs must end with the clean run's losses.
Exit 0 when every row passes, 1 when one fails, 77 (a skip for CTest) when namespaces cannot be
made here, with the reason."""
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import two_hosts  # noqa: E402

WORLD = 4
RANKS_PER_HOST = 2
STEPS = 60
SLOWED_STEPS = 10  # the latency and loss runs: every collective crosses the slowed link
# Their collective timeout: a lossy link loses SYNs too, and TCP's connect backs off 1, 2, 4 s,
# so 8 s (right for the kill rows) can run out while the process group connects (seen once in
# CI at 5% loss). A user on such a network sets a longer timeout; so do these rows.
SLOWED_TIMEOUT = 60
SAVE_EVERY = 5
LOSS_TOLERANCE = 1e-5
MID_STEP = 20  # faults strike once the run has saved this step's checkpoint, during a later step


class Run:
    """One launch of the 4 ranks across the two hosts, each rank's output in its own files."""

    def __init__(self, metaguard, hosts, out, timeout, port, resume=False, steps=STEPS):
        self.out = out
        self.processes = []
        self.logs = out.parent / f"{out.name}-logs{'-resume' if resume else ''}"
        self.logs.mkdir(parents=True, exist_ok=True)
        for rank in range(WORLD):
            host = rank // RANKS_PER_HOST
            env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank % RANKS_PER_HOST),
                       LOCAL_WORLD_SIZE=str(RANKS_PER_HOST), GROUP_RANK=str(host), MASTER_ADDR=hosts.addresses[0],
                       MASTER_PORT=str(port), GLOO_SOCKET_IFNAME=hosts.devices[host])
            command = [metaguard, "train", "--model", "micro", "--seq-len", "32", "--global-batch", "8",
                       "--steps", str(steps), "--save-every", str(SAVE_EVERY), "--eval-every", "8",
                       "--threads", "1", "--timeout", str(timeout), "--out", str(out), "--format", "json"]
            if resume:
                command += ["--resume", str(out)]
            with open(self.logs / f"rank{rank}.out", "w") as stdout, open(self.logs / f"rank{rank}.err", "w") as stderr:
                self.processes.append(subprocess.Popen(hosts.command(host, command), env=env, stdout=stdout,
                                                       stderr=stderr))
        self.started = time.monotonic()
        self.exited_at = [None] * WORLD

    def wait_for_step(self, step, limit):
        """Until the checkpoint of `step` is complete (run.json names it)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                if json.loads((self.out / "run.json").read_text())["step"] >= step:
                    return True
            except (OSError, ValueError, KeyError):
                pass
            if any(process.poll() is not None for process in self.processes):
                return False
            time.sleep(0.01)
        return False

    def wait(self, limit, ignore=()):
        """Waits for every rank not in `ignore` (at most `limit` s); exit times from the start."""
        deadline = time.monotonic() + limit
        for rank, process in enumerate(self.processes):
            if rank in ignore:
                continue
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                continue
        self.poll_exits()
        return [process.returncode for process in self.processes]

    def poll_exits(self):
        for rank, process in enumerate(self.processes):
            if self.exited_at[rank] is None and process.poll() is not None:
                self.exited_at[rank] = time.monotonic()

    def watch_until_exit(self, limit, ignore=()):
        """Polls every 10 ms so that exit times are measured, not bounded by the order of waits."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self.poll_exits()
            if all(self.exited_at[r] is not None for r in range(WORLD) if r not in ignore):
                break
            time.sleep(0.01)
        return [process.poll() for process in self.processes]

    def kill_all(self):
        for process in self.processes:
            if process.poll() is None:
                try:
                    process.send_signal(signal.SIGCONT)
                    process.kill()
                except ProcessLookupError:
                    pass
            process.wait()

    def report(self, name):
        try:
            return json.loads((self.out / name).read_text())
        except (OSError, ValueError):
            return None

    def stderr(self, rank):
        return (self.logs / f"rank{rank}.err").read_text(errors="replace")


def losses_of(report):
    return (report or {}).get("training", {}).get("losses") or []


def same_losses(a, b):
    return len(a) == len(b) and len(a) > 0 and all(
        abs(x - y) <= LOSS_TOLERANCE * max(1.0, abs(y)) for x, y in zip(a, b))


def checkpoint_loads(out):
    """The checkpoint run.json names loads in PyTorch itself (when this Python has torch)."""
    try:
        state = json.loads((out / "run.json").read_text())
    except (OSError, ValueError) as error:
        return f"run.json unreadable: {error}"
    try:
        import torch
    except ImportError:
        return None  # the resume below reads it all the same
    for key in ("weights", "optimizer"):
        if key in state and state[key]:
            try:
                torch.load(out / state[key], weights_only=True)
            except Exception as error:  # noqa: BLE001 (any failure to load is the finding)
                return f"{state[key]}: {type(error).__name__}: {error}"
    return None


def half_send_request(hosts, port):
    """From host B, the first byte of a request to the store on host A, and no more: what a
    rank's store client leaves behind when the link goes down between the pieces it sends a
    request in (a rare moment, made certain here). LibTorch 1.13's store then waits for the
    rest, serving no one, until TCP drops the connection."""
    script = ("import socket, sys, time\n"
              "peer = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
              "peer.sendall(bytes([0]))\n"  # a SET's type byte; its key never follows
              "print('sent', flush=True)\n"
              "time.sleep(3600)\n")
    process = subprocess.Popen(hosts.command(1, [sys.executable, "-c", script, hosts.addresses[0], str(port)]),
                               stdout=subprocess.PIPE, text=True)
    if process.stdout.readline().strip() != "sent":
        process.kill()
        raise RuntimeError("the half-sent request could not reach host A's store")
    time.sleep(0.05)  # the store reads the byte and waits for the rest
    return process


def text_of(report):
    return json.dumps(report) if report is not None else ""


class Bench:
    def __init__(self, metaguard, work, timeout, seed):
        self.metaguard = metaguard
        self.work = work
        self.timeout = timeout
        self.rng = random.Random(seed)
        self.seed = seed
        self.port = 29000 + os.getpid() % 1000
        self.references = {}  # steps: (losses, seconds) of the clean run

    def launch(self, hosts, out, resume=False, steps=STEPS, timeout=None):
        self.port += 1  # a fresh port per launch: a store of the launch before may linger in TIME_WAIT
        return Run(self.metaguard, hosts, out, timeout or self.timeout, self.port, resume, steps)

    def clean(self, steps):
        """The reference: the clean run's losses and time, for `steps` steps."""
        out = self.work / f"clean-{steps}"
        with two_hosts.TwoHosts("veth") as hosts:
            run = self.launch(hosts, out, steps=steps)
            try:
                codes = run.wait(600)
                seconds = time.monotonic() - run.started
            finally:
                run.kill_all()  # a run that hung is not left behind
        losses = losses_of(run.report("report.json"))
        self.references[steps] = (losses, seconds)
        return {"fault": f"none (clean 2x2 run, {steps} steps)", "exit_codes": codes, "seconds": round(seconds, 2),
                "losses": len(losses), "passed": codes == [0] * WORLD and len(losses) == steps}

    def resume_matches(self, out):
        with two_hosts.TwoHosts("veth") as hosts:
            run = self.launch(hosts, out, resume=True)
            try:
                codes = run.wait(600)
            finally:
                run.kill_all()
        return codes, same_losses(losses_of(run.report("report.json")), self.references[STEPS][0])

    def strike(self, fault):
        """kill, stop, cut or kill0, at a random moment of a step after MID_STEP's checkpoint."""
        out = self.work / fault
        victims = {"kill": [2], "stop": [3], "cut": [2, 3], "kill0": [0]}[fault]
        half_sent = None
        with two_hosts.TwoHosts("veth") as hosts:
            run = self.launch(hosts, out)
            try:
                if not run.wait_for_step(MID_STEP, 300):
                    run.kill_all()
                    return {"fault": fault, "passed": False, "error": "the run ended or stalled before the fault"}
                if fault == "cut":  # the store stalls from here on: nothing in a healthy step waits for it
                    half_sent = half_send_request(hosts, self.port)
                delay = self.rng.uniform(0.0, 0.2)
                time.sleep(delay)
                struck = time.monotonic()
                if any(process.poll() is not None for process in run.processes):
                    run.kill_all()
                    return {"fault": fault, "passed": False, "error": "a rank had exited before the fault"}
                if fault == "cut":
                    hosts.cut()
                else:
                    sig = signal.SIGSTOP if fault == "stop" else signal.SIGKILL
                    run.processes[victims[0]].send_signal(sig)
                survivors = [r for r in range(WORLD) if fault == "cut" or r not in victims]
                run.watch_until_exit(4 * self.timeout + 30, ignore=[] if fault == "cut" else victims)
                exits = {r: (round(run.exited_at[r] - struck, 2) if run.exited_at[r] else None) for r in survivors}
                codes = {r: run.processes[r].poll() for r in survivors}
            finally:
                run.kill_all()
                if half_sent is not None:
                    half_sent.kill()
                    half_sent.wait()
        latest = max((t for t in exits.values() if t is not None), default=None)
        in_time = all(t is not None and t <= 2 * self.timeout for t in exits.values())
        row = {"fault": fault, "struck_after_s": round(delay, 3), "victims": victims,
               "half_sent_request": half_sent is not None, "exit_after_s": exits,
               "exit_codes": codes, "slowest_exit_s": latest, "limit_s": 2 * self.timeout, "in_time": in_time}
        row["report"] = self.what_reports_said(fault, run, victims, hosts)
        named = row["report"]["names_victims"]
        if fault == "kill0":
            row["passed"] = in_time and named and all(code not in (0, None) for code in codes.values())
            return row
        row["checkpoint_problem"] = checkpoint_loads(out)
        resume_codes, equal = self.resume_matches(out)
        row["resume_exit_codes"], row["resume_losses_equal"] = resume_codes, equal
        row["passed"] = (in_time and named and all(code not in (0, None) for code in codes.values())
                         and row["checkpoint_problem"] is None and resume_codes == [0] * WORLD and equal)
        return row

    def what_reports_said(self, fault, run, victims, hosts):
        """What rank 0's run report (or, rank 0 gone, each rank's own report) says of the fault."""
        said = {}
        if fault == "kill0":
            texts = {r: text_of(run.report(f"rank{r}.json")) for r in range(1, WORLD)}
            said["ranks_say_store_gone"] = {r: "rank 0" in t and "store" in t for r, t in texts.items()}
            said["names_victims"] = all(said["ranks_say_store_gone"].values())
            said["rank1_error"] = (run.report("rank1.json") or {}).get("error")
            return said
        report = run.report("report.json")
        text = text_of(report)
        said["error"] = (report or {}).get("error")
        # Host B's ranks are named with host B's address (their GLOO_SOCKET_IFNAME's).
        said["names_victims"] = report is not None and all(
            f"rank {v} is gone" in text for v in victims) and hosts.addresses[1] in text
        if fault == "cut":  # host B's own ranks: they lost the store at host A
            texts = {r: text_of(run.report(f"rank{r}.json")) + run.stderr(r) for r in victims}
            said["host_b_says_store_gone"] = {r: "store" in t for r, t in texts.items()}
            said["names_victims"] = said["names_victims"] and all(said["host_b_says_store_gone"].values())
        return said

    def slowed(self, fault):
        """latency or loss: the run finishes, slower, with the clean run's losses."""
        out = self.work / fault
        options = {"latency": {"delay_ms": 200.0}, "loss": {"loss": 0.05}}[fault]
        with two_hosts.TwoHosts("router", seed=self.seed, **options) as hosts:
            run = self.launch(hosts, out, steps=SLOWED_STEPS, timeout=SLOWED_TIMEOUT)
            try:
                codes = run.wait(900)
                seconds = time.monotonic() - run.started
            finally:
                run.kill_all()
        reference, clean_seconds = self.references[SLOWED_STEPS]
        equal = same_losses(losses_of(run.report("report.json")), reference)
        row = {"fault": fault, **options, "steps": SLOWED_STEPS, "timeout_s": SLOWED_TIMEOUT, "exit_codes": codes,
               "seconds": round(seconds, 2), "clean_seconds": round(clean_seconds, 2), "losses_equal": equal,
               "passed": codes == [0] * WORLD and equal}
        if not row["passed"]:  # what the ranks said, to tell a real defect from the network
            row["rank_errors"] = {r: (run.report(f"rank{r}.json") or {}).get("error") for r in range(WORLD)}
        return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metaguard", required=True)
    parser.add_argument("--faults", default="kill,stop,cut,latency,loss,kill0")
    parser.add_argument("--timeout", type=int, default=8, help="the runs' collective timeout (s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--summary", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the run folders (printed)")
    args = parser.parse_args()

    # CTest ends a test that runs too long with SIGTERM first: leave through the same
    # clean-ups as a failure (ranks killed, namespaces deleted).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    reason = two_hosts.why_not_available()
    if reason:
        print(f"skipped: {reason}")
        return 77
    work = Path(tempfile.mkdtemp(prefix="metaguard-hosts-"))
    bench = Bench(os.path.abspath(args.metaguard), work, args.timeout, args.seed)
    faults = args.faults.split(",")
    rows = [bench.clean(STEPS)]
    if any(fault in ("latency", "loss") for fault in faults):
        rows.append(bench.clean(SLOWED_STEPS))
    for row in rows:
        print(json.dumps(row), flush=True)
    if all(row["passed"] for row in rows):
        for fault in faults:
            row = bench.slowed(fault) if fault in ("latency", "loss") else bench.strike(fault)
            rows.append(row)
            print(json.dumps(row), flush=True)
    passed = all(row["passed"] for row in rows)
    summary = {"timeout_s": args.timeout, "steps": STEPS, "slowed_steps": SLOWED_STEPS, "seed": args.seed, "passed": passed, "rows": rows}
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=2) + "\n")
    if args.keep:
        print(f"run folders kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("passed" if passed else "FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
