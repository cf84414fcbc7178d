#!/usr/bin/python3
"""Times `metaguard scan` end to end as a process and reports its peak RSS.

    /usr/bin/python3 bench/measure_scan.py build/metaguard FILE [--runs 20] [--scan-arg=--check-values]

Prints the median and slowest wall time of the runs and the largest peak RSS (ru_maxrss of
each child, measured one child at a time). The page cache is warm after the first run;
run 0 is reported separately.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def run_once(argv):
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execv(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    return elapsed, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("metaguard")
    parser.add_argument("file")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--scan-arg", action="append", default=[], help="one more scan argument (repeatable)")
    args = parser.parse_args()
    argv = [os.path.abspath(args.metaguard), "scan", args.file, "--format", "json", *args.scan_arg]
    results = [run_once(argv) for _ in range(args.runs + 1)]
    first, rest = results[0], results[1:]
    times = [r[0] * 1000 for r in rest]
    print(f"command: {' '.join(argv)}")
    print(f"exit codes: {sorted(set(r[2] for r in results))}")
    print(f"first run: {first[0] * 1000:.1f} ms, {first[1] / 1024:.1f} MiB peak RSS")
    print(f"{len(rest)} warm runs: median {statistics.median(times):.1f} ms, "
          f"slowest {max(times):.1f} ms, peak RSS {max(r[1] for r in rest) / 1024:.1f} MiB")


if __name__ == "__main__":
    sys.exit(main())
