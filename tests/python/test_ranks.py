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
        assert result["findings"] == [["rank-divergence", "1.weight", 1, "broadcast", False]], result
        assert result["raised"] and "rank-divergence" in result["raised"]


def test_under_repair_only_the_rank_that_lacks_a_tensor_fills_it_and_the_ranks_still_compare(tmp_path):
    """Both ranks see rank 1's meta bias (compare_ranks), but only rank 1 fills it (rank 0's
    bias holds data and is left alone); seeded init is not rank 0's values, so the check
    after the repair reports the divergence on both ranks, and both stop."""
    for result in run_ranks(tmp_path, "repair-one"):
        assert result["raised"] and "rank-divergence" in result["raised"], result
        assert result["findings"] == [["meta-parameter", "1.bias", 1, "before-forward", True],
                                      ["rank-divergence", "1.bias", 1, "before-forward", False]], result
