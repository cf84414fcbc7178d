"""check(compare_ranks=True) across real ranks launched by torchrun (Gloo, CPU): one
collective compares content hashes, and every rank reports the same rank-divergence."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def run_ranks(tmp_path, mode):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(HERE / "ranks_script.py"), str(tmp_path), mode]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]


def test_replicas_that_agree_give_no_finding(tmp_path):
    for result in run_ranks(tmp_path, "same"):
        assert result["findings"] == [] and result["raised"] is None


def test_a_replica_initialized_with_its_own_seed_is_reported_by_every_rank(tmp_path):
    results = run_ranks(tmp_path, "diverge")
    for result in results:
        assert result["findings"] == [["rank-divergence", "1.weight", 1, "broadcast"]], result
        assert result["raised"] and "rank-divergence" in result["raised"]
