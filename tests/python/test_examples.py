"""The examples in python/examples run as written."""
import re
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]


def test_the_fabric_example_trains_and_saves_a_loadable_checkpoint(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "python/examples/fabric_lora.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    losses = [float(x) for x in re.findall(r"loss ([0-9.]+)", done.stdout)]
    assert len(losses) == 3 and losses[-1] < losses[0]
    state = torch.load(tmp_path / "lora.ckpt", weights_only=True)
    assert any(name.endswith("lora_A") for name in state["model"])
    assert not any(t.is_meta for t in state["model"].values())
