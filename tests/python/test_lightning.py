"""metaguard's Lightning callback in a real Trainer.fit: 2 processes on CPU (DDP, Gloo),
a LitGPT LoRA model with LitGPT issue 1378's fault injected."""
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fit(tmp_path, mode):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(HERE / "lightning_fit.py"), str(tmp_path), mode], capture_output=True,
                          text=True, timeout=300, env=env, cwd=tmp_path)
    results = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("rank*.json"))]
    return done, results


def test_the_callback_stops_both_ranks_before_the_model_moves(tmp_path):
    done, results = fit(tmp_path, "fail")
    assert done.returncode != 0
    assert len(results) == 2, done.stderr[-3000:]
    for result in results:
        assert result["phases"] == [] and result["index_on_meta"], result
        assert "meta-nonpersistent-buffer" in result["error"] and "before-transfer" in result["error"]
        assert "model.transformer.h.{0,1}.attn.qkv.lora_ind" in result["error"]
        assert result["checkpoints"] == []


def test_the_callback_repairs_and_the_run_trains_validates_and_saves(tmp_path):
    done, results = fit(tmp_path, "repair")
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(results) == 2
    for result in results:
        assert result["error"] is None and not result["index_on_meta"]
        phases = [phase for phase, _, _ in result["phases"]]
        assert phases[0] == "before-transfer" and "before-forward" in phases and "before-validation" in phases
        assert "before-save" in phases
        # Both layers' index, as seen on both ranks (compare_ranks: every rank reports all ranks).
        assert result["phases"][0][1] == 4
        assert all(ok for _, _, ok in result["phases"])
        assert result["checkpoints"], "the run saved a checkpoint"
    # DDP kept the replicas equal after training (and the comparison found nothing).
    assert results[0]["lora_A_sum"] == results[1]["lora_A_sum"]
