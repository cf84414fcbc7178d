"""LitGPT issue 1378 on LitGPT itself: a LoRA GPT built on meta and materialized as Fabric
does keeps its LoRA index on meta; the first validation forward crashes. metaguard names
the tensor at before-validation with cause and fix, and repairs it so that the model gives
the same output as one that never had the fault."""
import pytest
import torch
from lightning_fabric.utilities.init import _materialize_meta_tensors

import metaguard
from litgpt_fault import lora_index, meta_born_lora_index, qkv_layers, reference_model, tiny_lora_config
from litgpt.lora import GPT

INDEX = "transformer.h.0.attn.qkv.lora_ind"


@pytest.fixture
def faulty_model():
    """The fault as it happened: built on meta, materialized as Fabric does (to_empty and
    reset_parameters per module), weights loaded from a checkpoint (here: the reference's)."""
    config = tiny_lora_config()
    reference = reference_model(config).eval()
    with meta_born_lora_index():
        with torch.device("meta"):
            model = GPT(config)
        first = metaguard.check(model, "init")
        _materialize_meta_tensors(model, torch.device("cpu"))
        model.load_state_dict(reference.state_dict())
        yield model.eval(), reference, first


def tokens():
    return torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(1))


def test_the_fault_crashes_the_first_forward_without_metaguard(faulty_model):
    model, _, _ = faulty_model
    with pytest.raises((RuntimeError, NotImplementedError)):
        with torch.no_grad():
            model(tokens())


def test_check_names_the_meta_index_at_before_validation_with_cause_and_fix(faulty_model):
    model, _, first = faulty_model
    assert first.ok, "nothing must hold data at a meta init"
    report = metaguard.check(model, "before-validation")
    meta = [f for f in report.errors if f.code == "meta-nonpersistent-buffer"]
    # One index per layer, and nothing else is wrong: Fabric's materialization filled the rest.
    assert sorted(f.tensor for f in report.errors) == sorted(
        f"transformer.h.{i}.attn.qkv.lora_ind" for i in range(2))
    finding = next(f for f in meta if f.tensor == INDEX)
    assert finding.phase == "before-validation"
    assert "created on meta at init" in finding.cause
    assert "non-persistent" in finding.cause and "Cannot copy out of meta tensor" in finding.cause
    assert "recompute" in finding.fix


def test_guard_fails_with_the_report_as_the_cli_prints_it(faulty_model):
    model, _, _ = faulty_model
    with pytest.raises(metaguard.MetaTensorError) as raised:
        metaguard.guard(model, "before-validation", on_meta="fail")
    # Grouped as the command line groups them: transformer.h.{0,1}.attn.qkv.lora_ind
    assert "transformer.h.{0,1}.attn.qkv.lora_ind" in str(raised.value) and "SUMMARY:" in str(raised.value)
    assert raised.value.report.errors[0].code == "meta-nonpersistent-buffer"


def test_repair_with_a_declared_recipe_gives_the_reference_output(faulty_model):
    model, reference, _ = faulty_model
    for qkv in qkv_layers(model):
        metaguard.declare_derived(qkv, "lora_ind", lora_index)
    report = metaguard.guard(model, "before-validation", on_meta="repair")
    assert report.ok and report.summary["repaired"] == 2
    assert all(f.repaired for f in report.findings if f.tensor and f.tensor.endswith("lora_ind"))
    with torch.no_grad():
        assert torch.equal(model(tokens()), reference(tokens()))
    # Declared derived, the index is now compared with its recipe at every check.
    qkv_layers(model)[0].lora_ind[0] = 5
    stale = metaguard.check(model, "before-forward")
    assert [(f.code, f.tensor) for f in stale.errors] == [("stale-derived-buffer", INDEX)]


def test_without_a_recipe_repair_names_the_tensor_and_changes_nothing(faulty_model):
    model, _, _ = faulty_model
    with pytest.raises(metaguard.MetaTensorError, match=r"cannot repair transformer\.h\.0\.attn\.qkv\.lora_ind"):
        metaguard.guard(model, "before-validation", on_meta="repair")
    assert all(q.lora_ind.is_meta for q in qkv_layers(model))


def test_the_model_built_on_meta_is_repaired_whole_with_the_same_bits_for_the_same_seed():
    """repair() as Fabric's materialization: every parameter by its module's
    reset_parameters(); the same seed gives the same values (what every rank relies on)."""
    config = tiny_lora_config()
    models = []
    for _ in range(2):
        with torch.device("meta"):
            models.append(GPT(config))
    for model in models:
        repaired = metaguard.repair(model, seed=7, device="cpu")
        assert "transformer.wte.weight" in repaired and "cos" in repaired
    first, second = (dict(m.state_dict()) for m in models)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert metaguard.check(models[0], "before-forward").ok
    with torch.device("meta"):
        third = GPT(config)
    metaguard.repair(third, seed=8, device="cpu")
    assert not torch.equal(third.transformer.wte.weight, models[0].transformer.wte.weight)
