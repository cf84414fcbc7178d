"""pytest for the Python side of the LitGPT reference data (run with the project's venv):

    .venv/bin/python -m pytest -q tests/litgpt

Checks that cases.json and fixtures/litgpt/configs.json are what the scripts generate from the
installed LitGPT, that the shrink rule keeps every catalog config's features, that the legacy
layout is the inverse of LitGPT's own qkv_reassemble, and that make + check-save behave
(pass on LitGPT's own adapters, fail on tampered or mis-keyed ones, exit 2 on bad input).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import litgpt_reference as ref  # noqa: E402

REPO = HERE.parent.parent


def run_main(*argv):
    """The script's main in this process; returns its exit status."""
    try:
        status = ref.main(list(argv))
    except SystemExit as e:
        status = e.code
    return status


def test_cases_json_is_generated_from_the_tables():
    written = ref.load_cases()
    assert written == ref.build_case_list(), "tests/litgpt/cases.json is stale: run write-cases"


def test_every_feature_set_of_the_catalog_has_a_case():
    covered = {(tuple(c["features"]), tuple(c["traits"])) for c in ref.load_cases() if not c.get("synthetic")}
    for key, names in ref.catalog_groups():
        assert key in covered, f"no case for the feature set of {names[0]}"


def test_shrink_keeps_features_and_is_small_for_every_config():
    import litgpt.config

    for raw in litgpt.config.configs:
        d = ref.shrink_config(raw)  # raises if the features change
        cfg = litgpt.config.Config(**d)
        assert cfg.n_layer <= 6 and cfg.n_embd <= 96 and cfg.padded_vocab_size == 128, raw["name"]
        assert cfg.n_head % cfg.n_query_groups == 0
        assert cfg.rope_n_elem >= 4 and cfg.rope_n_elem % 2 == 0, raw["name"]


def test_legacy_layout_is_the_inverse_of_litgpts_reassembly():
    import torch
    from litgpt.config import Config
    from litgpt.scripts.convert_hf_checkpoint import qkv_reassemble

    for n_head, groups in ((4, 4), (6, 2), (4, 1)):
        cfg = Config(n_layer=1, n_head=n_head, n_query_groups=groups, head_size=8, n_embd=40, padded_vocab_size=128)
        rows = (n_head + 2 * groups) * 8
        weight = torch.arange(rows * 3, dtype=torch.float32).reshape(rows, 3)
        legacy = ref.to_legacy_fused(weight, n_head, groups, 8)
        assert torch.equal(qkv_reassemble(legacy, cfg), weight)
        bias = torch.arange(rows, dtype=torch.float32)
        assert torch.equal(qkv_reassemble(ref.to_legacy_fused(bias, n_head, groups, 8), cfg), bias)
        # one group: [q.., k, v] either way, only the key names differ
        assert torch.equal(legacy, weight) == (groups == 1)


def test_make_then_check_save(tmp_path, capsys):
    import torch

    assert run_main("make", str(tmp_path), "--case", "qwen2.5", "--case", "gemma-3-mqa") == 0
    for case in ("qwen2.5", "gemma-3-mqa"):
        case_dir = tmp_path / case
        meta = json.loads((case_dir / "meta.json").read_text())
        assert meta["case"] == case
        t = meta["tokens_shape"][1]
        assert (case_dir / "tokens.bin").stat().st_size == 2 * t * 8
        assert (case_dir / "logits.bin").stat().st_size == 2 * t * 128 * 4
        assert meta["checks"]["merged_vs_lora_max_abs_diff"] <= 1e-5
        assert meta["checks"]["legacy_vs_current_max_abs_diff"] == 0.0
        yaml_text = (case_dir / "model_config.yaml").read_text()
        assert "lora_" not in yaml_text and "name: " in yaml_text

    case_dir = tmp_path / "qwen2.5"
    sd = torch.load(case_dir / "lit_model.pth", weights_only=True)
    adapters = {k: v for k, v in sd.items() if "lora_" in k}
    good = tmp_path / "good.pth.lora"
    torch.save({"model": adapters}, good)  # LitGPT's lit_model.pth.lora form
    capsys.readouterr()
    status = run_main(
        "check-save", str(case_dir), "--lora", str(good), "--merged", str(case_dir / "merged_model.pth"),
        "--expect-logits", str(case_dir / "logits.bin"),
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0 and report["ok"] and report["max_abs_diff"] <= 1e-5

    tampered = dict(adapters)
    key = sorted(k for k in tampered if k.endswith("lora_B"))[0]
    tampered[key] = tampered[key] + 0.01
    bad = tmp_path / "tampered.pth"
    torch.save(tampered, bad)
    status = run_main("check-save", str(case_dir), "--lora", str(bad), "--expect-logits", str(case_dir / "logits.bin"))
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 1 and not report["ok"] and report["max_abs_diff"] > 1e-5

    renamed = {k.replace(".attn.qkv.", ".attn.attn."): v for k, v in adapters.items()}
    torch.save(renamed, bad)
    status = run_main("check-save", str(case_dir), "--lora", str(bad), "--expect-logits", str(case_dir / "logits.bin"))
    captured = capsys.readouterr()
    report = json.loads(captured.out.strip().splitlines()[-1])
    assert status == 1 and report["checks"]["lora"]["unexpected"] and "missing: " in captured.err

    status = run_main("check-save", str(case_dir), "--lora", str(good), "--expect-logits", str(case_dir / "tokens.bin"))
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("litgpt_reference: error: ")


def test_unknown_case_is_bad_input(tmp_path, capsys):
    assert run_main("make", str(tmp_path), "--case", "no-such-case") == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_catalog_is_up_to_date():
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "generate-litgpt-catalog.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("argv", [["bogus"], ["make"], ["check-save", "x"]])
def test_usage_errors_are_one_line(argv, capsys):
    assert run_main(*argv) == 2
    assert capsys.readouterr().err.count("\n") == 1
