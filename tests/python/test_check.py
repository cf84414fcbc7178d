"""metaguard.check on hand-made modules: what the walk sees, what each phase needs, the
ledger across calls, allow globs, the report's formats, and every bad argument."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn

import metaguard

REPO = Path(__file__).resolve().parents[2]


class Holder(nn.Module):
    """Tensors in every place a module can hold one."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.register_buffer("table", torch.zeros(2))
        self.register_buffer("index", torch.arange(2), persistent=False)
        self.plain = torch.ones(1)
        self.pairs = [torch.zeros(1), (torch.zeros(2), {"deep": torch.zeros(3)})]
        self.by_name = {"cos": torch.zeros(4)}
        self.not_a_tensor = "text"
        self.shared = self.linear  # the same module under two names: listed once


def names_and_kinds(report):
    data = json.loads(report.to_json())
    return {t["name"]: t["kind"] for t in data["tensors"]}


def test_the_walk_lists_parameters_buffers_and_attribute_tensors_in_containers():
    kinds = names_and_kinds(metaguard.check(Holder(), "before-forward"))
    assert kinds == {
        "linear.weight": "parameter",
        "linear.bias": "parameter",
        "table": "buffer",
        "index": "nonpersistent_buffer",
        # Attribute tensors are in no state dict: non-persistent for metaguard.
        "plain": "nonpersistent_buffer",
        "pairs[0]": "nonpersistent_buffer",
        "pairs[1][0]": "nonpersistent_buffer",
        "pairs[1][1][deep]": "nonpersistent_buffer",
        "by_name[cos]": "nonpersistent_buffer",
    }


def test_a_container_that_holds_itself_is_walked_once():
    module = nn.Module()
    loop = [torch.zeros(1)]
    loop.append(loop)
    module.loop = loop
    assert list(names_and_kinds(metaguard.check(module))) == ["loop[0]"]


def test_each_phase_asks_data_of_the_kinds_that_must_have_it():
    with torch.device("meta"):
        module = Holder()
    codes = {phase: sorted({f.code for f in metaguard.check(module, phase).errors}) for phase in metaguard.PHASES}
    assert codes["init"] == []
    assert codes["load"] == codes["broadcast"] == ["meta-buffer", "meta-parameter"]
    for phase in ("materialize", "before-transfer", "before-validation", "before-forward", "before-save"):
        assert codes[phase] == ["meta-buffer", "meta-nonpersistent-buffer", "meta-parameter"], phase


def test_the_ledger_tells_a_tensors_history_across_checks():
    with torch.device("meta"):
        module = Holder()
    metaguard.check(module, "init")
    module.linear.to_empty(device="cpu")  # parameters only get storage, never values
    module.linear.weight.data.zero_()
    report = metaguard.check(module, "before-forward")
    bias = json.loads(report.to_json())
    history = {t["name"]: [e["event"] for e in t["provenance"]] for t in bias["tensors"]}
    assert history["linear.weight"][0] == "created" and "replaced" in history["linear.weight"]
    by_tensor = {f.tensor: f for f in report.errors}
    assert "created on meta at init" in by_tensor["table"].cause


def test_allow_globs_accept_findings_by_tensor_name():
    with torch.device("meta"):
        module = Holder()
    report = metaguard.check(module, "before-forward", allow=["*"])
    assert report.ok and report.summary["allowed"] == report.summary["meta"] > 0
    partly = metaguard.check(module, "before-forward", allow="pairs*")
    assert not partly.ok and all(not f.tensor.startswith("pairs") for f in partly.errors)


def test_every_format_renders_and_json_is_the_report_schema():
    with torch.device("meta"):
        report = metaguard.check(Holder(), "before-save", rank=3)
    for fmt in ("text", "json", "md", "html", "junit"):
        assert report.render(fmt)
    data = json.loads(report.to_json())
    assert data["schema"] == "metaguard.report/1" and data["command"] == "check"
    assert {f["rank"] for f in data["findings"]} == {3}
    assert [f.to_dict() for f in report.findings] == data["findings"]
    with pytest.raises(ValueError, match="pdf"):
        report.render("pdf")


def cli():
    for candidate in (os.environ.get("METAGUARD_CLI"), REPO / "build-torch2" / "metaguard", REPO / "build" / "metaguard"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return shutil.which("metaguard")


@pytest.mark.skipif(cli() is None, reason="no metaguard executable built (build-torch2/ or build/)")
def test_explain_and_diff_read_the_python_report(tmp_path):
    with torch.device("meta"):
        module = Holder()
    before = tmp_path / "before.json"
    before.write_text(metaguard.check(module, "before-forward").to_json())
    module.linear.to_empty(device="cpu")
    nn.init.zeros_(module.linear.weight)
    nn.init.zeros_(module.linear.bias)
    after = tmp_path / "after.json"
    after.write_text(metaguard.check(module, "before-forward").to_json())
    explained = subprocess.run([cli(), "explain", str(before)], capture_output=True, text=True)
    assert explained.returncode == 1, explained.stderr  # errors remain: exit 1 (CONTRACT.md)
    assert "check of Holder" in explained.stdout and "linear.weight" in explained.stdout
    diff = subprocess.run([cli(), "diff", str(before), str(after)], capture_output=True, text=True)
    assert diff.returncode in (0, 1), diff.stderr
    assert "linear.weight" in diff.stdout


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: metaguard.check("model"), TypeError, "expected a torch.nn.Module, got str"),
        (lambda: metaguard.check(nn.Linear(1, 1), "before-lunch"), ValueError, "unknown phase 'before-lunch'"),
        (lambda: metaguard.check(nn.Linear(1, 1), 3), TypeError, "phase must be a string"),
        (lambda: metaguard.check(nn.Linear(1, 1), allow=[1]), TypeError, "allow must hold strings"),
        (lambda: metaguard.check(nn.Linear(1, 1), allow=5), TypeError, "allow must be a glob"),
        (lambda: metaguard.check(nn.Linear(1, 1), rank=-1), ValueError, "rank must be a non-negative integer"),
        (lambda: metaguard.check(nn.Linear(1, 1), compare_ranks=True), ValueError, "torch.distributed"),
        (lambda: metaguard.check(nn.Linear(1, 1), compare_ranks="yes"), TypeError, "compare_ranks must be"),
        (lambda: metaguard.check(nn.Linear(1, 1), optimizer="sgd"), TypeError, "optimizer must be a torch.optim"),
        (lambda: metaguard.guard(nn.Linear(1, 1), "init", on_meta="ignore"), ValueError, "unknown on_meta policy"),
        (lambda: metaguard.guard(nn.Linear(1, 1), "init", seed=-1), ValueError, "seed must be an integer"),
        (lambda: metaguard.repair(None), TypeError, "expected a torch.nn.Module, got NoneType"),
        (lambda: metaguard.declare_derived(nn.Linear(1, 1), "", len), TypeError, "name must be a non-empty"),
        (lambda: metaguard.declare_derived(nn.Linear(1, 1), "x", 3), TypeError, "fn must be callable"),
    ],
)
def test_bad_arguments_are_one_clear_sentence(call, error, words):
    with pytest.raises(error) as raised:
        call()
    message = str(raised.value)
    assert words in message and "\n" not in message
