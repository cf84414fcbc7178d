"""metaguard.repair and guard(on_meta="repair") on hand-made modules: identity, ties,
seeds, what is kept, and the errors that name a tensor nothing can fill."""
import json

import pytest
import torch
from torch import nn

import metaguard


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(8, 4)
        self.head = nn.Linear(4, 8, bias=False)
        self.head.weight = self.embed.weight  # one tensor under two names


def meta(cls, *args):
    with torch.device("meta"):
        return cls(*args)


def test_repair_keeps_every_tensor_object_so_an_optimizer_built_before_trains_them():
    model = meta(nn.Linear, 4, 3)
    weight, bias = model.weight, model.bias
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    metaguard.repair(model, device="cpu")
    assert model.weight is weight and model.bias is bias and not weight.is_meta
    before = weight.detach().clone()
    model(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    assert not torch.equal(before, model.weight)


def test_tied_weights_stay_one_tensor_and_views_of_one_storage_stay_views():
    model = meta(Tied)
    metaguard.repair(model, device="cpu")
    assert model.head.weight is model.embed.weight and not model.embed.weight.is_meta
    holder = nn.Module()
    with torch.device("meta"):
        base = torch.empty(6)
    holder.register_buffer("whole", base)
    holder.register_buffer("upper", base[3:])
    metaguard.declare_derived(holder, "whole", lambda m: torch.arange(6.0))
    metaguard.repair(holder, device="cpu")
    assert holder.upper.untyped_storage().data_ptr() == holder.whole.untyped_storage().data_ptr()
    assert torch.equal(holder.upper, torch.tensor([3.0, 4.0, 5.0]))
    report = metaguard.check(holder, "before-forward")
    assert not [f for f in report.findings if f.code == "tied-weights-broken"]


def test_the_same_seed_gives_the_same_bits_and_the_callers_generator_is_untouched():
    first, second, third = meta(nn.Linear, 16, 16), meta(nn.Linear, 16, 16), meta(nn.Linear, 16, 16)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    metaguard.repair(first, seed=5, device="cpu")
    assert torch.equal(torch.random.get_rng_state(), state)
    metaguard.repair(second, seed=5, device="cpu")
    metaguard.repair(third, seed=6, device="cpu")
    assert torch.equal(first.weight, second.weight) and torch.equal(first.bias, second.bias)
    assert not torch.equal(first.weight, third.weight)


def test_tensors_with_data_in_a_reset_module_are_kept():
    model = meta(nn.Linear, 4, 3)
    loaded = torch.full((3, 4), 2.0)
    model.load_state_dict({"weight": loaded}, strict=False, assign=True)
    weight = model.weight
    repaired = metaguard.repair(model, device="cpu")
    assert repaired == ["bias"]
    assert model.weight is weight and torch.equal(model.weight, loaded) and not model.bias.is_meta


class NoInit(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.scale = nn.Parameter(torch.ones(2))


def test_a_tensor_nothing_can_fill_is_named_before_anything_changes():
    model = meta(NoInit)
    with pytest.raises(metaguard.MetaTensorError, match=r"cannot repair scale: NoInit has no reset_parameters\(\)"):
        metaguard.repair(model, device="cpu")
    assert model.linear.weight.is_meta and model.scale.is_meta
    metaguard.declare_derived(model, "scale", lambda m: torch.ones(2))
    assert sorted(metaguard.repair(model, device="cpu")) == ["linear.bias", "linear.weight", "scale"]


class Replacing(nn.Module):
    """A reset_parameters() that assigns new tensors instead of writing in place."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(3))
        self.register_buffer("cache", torch.empty(3), persistent=False)

    def reset_parameters(self):
        self.weight = nn.Parameter(torch.full((3,), 0.5, device=self.weight.device))
        self.cache = torch.arange(3.0, device=self.cache.device)


class Forgetful(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(3))

    def reset_parameters(self):
        pass


def test_a_reset_that_replaces_tensors_is_copied_back_into_the_original_objects():
    model = meta(Replacing)
    weight, cache = model.weight, model.cache
    metaguard.repair(model, device="cpu")
    assert model.weight is weight and model.cache is cache
    assert torch.equal(weight, torch.full((3,), 0.5)) and torch.equal(cache, torch.arange(3.0))


def test_a_reset_that_writes_nothing_is_an_error_and_the_tensor_stays_meta():
    model = meta(Forgetful)
    with pytest.raises(metaguard.MetaTensorError, match=r"cannot repair weight: reset_parameters\(\) of Forgetful does not write it"):
        metaguard.repair(model, device="cpu")
    assert model.weight.is_meta


def test_guard_repair_marks_findings_repaired_and_the_ledger_says_by_what():
    model = meta(nn.Linear, 2, 2)
    metaguard.check(model, "init")
    report = metaguard.guard(model, "before-forward", on_meta="repair", seed=3, device="cpu")
    assert report.ok and report.summary["repaired"] == 2 and report.summary["errors"] == 0
    assert all(f.repaired for f in report.findings)
    events = {t["name"]: [(e["event"], e.get("detail", "")) for e in t["provenance"]] for t in json.loads(report.to_json())["tensors"]}
    assert ("repaired", "by reset_parameters() of Linear, seed 3") in events["weight"]


def test_the_device_of_the_module_is_where_meta_tensors_go():
    model = nn.Sequential(nn.Linear(2, 2), meta(nn.Linear, 2, 2))
    metaguard.repair(model)
    assert model[1].weight.device == torch.device("cpu")
    with pytest.raises(metaguard.MetaTensorError, match="every tensor of Linear is on meta: pass device="):
        metaguard.repair(meta(nn.Linear, 2, 2))


def test_warn_policy_warns_and_returns_the_report():
    model = meta(nn.Linear, 2, 2)
    with pytest.warns(metaguard.MetaTensorWarning, match="meta-parameter"):
        report = metaguard.guard(model, "before-forward", on_meta="warn")
    assert not report.ok and model.weight.is_meta


class ResetsItsChild(nn.Module):
    """A block whose reset_parameters() also resets its projection (as many models do)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.empty(2))
        self.proj = nn.Linear(2, 2)

    def reset_parameters(self):
        nn.init.ones_(self.scale)
        self.proj.reset_parameters()


class WritesThroughData(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(3))

    def reset_parameters(self):
        self.weight.data.fill_(3.0)  # no version bump: still a write


def test_a_reset_that_reaches_into_children_keeps_their_loaded_weights():
    block = meta(ResetsItsChild)
    loaded = {"weight": torch.full((2, 2), 7.0), "bias": torch.full((2,), 7.0)}
    block.proj.load_state_dict(loaded, assign=True)
    metaguard.repair(block, device="cpu")
    assert torch.equal(block.scale, torch.ones(2))
    assert torch.equal(block.proj.weight, loaded["weight"]) and torch.equal(block.proj.bias, loaded["bias"])


def test_a_write_through_data_counts_as_written():
    model = meta(WritesThroughData)
    metaguard.repair(model, device="cpu")
    assert torch.equal(model.weight, torch.full((3,), 3.0))


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.b = Forgetful()


def test_a_failed_repair_leaves_nothing_with_unwritten_memory():
    model = meta(Pair)
    with pytest.raises(metaguard.MetaTensorError, match="Forgetful does not write it"):
        metaguard.repair(model, device="cpu")
    # a's reset ran before b's failed: a went back to meta too, so the check still sees it.
    assert model.a.weight.is_meta and model.a.bias.is_meta and model.b.weight.is_meta
    assert {f.tensor for f in metaguard.check(model, "before-forward").errors} == {"a.weight", "a.bias", "b.weight"}


def test_an_optimizer_built_before_to_empty_is_caught_stepping_copies():
    """to_empty() from meta replaces the parameters, so an optimizer built before steps
    tensors the model no longer holds; repair() keeps identity, so the same optimizer works."""
    model = meta(nn.Linear, 2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    metaguard.check(model, "init")  # the ledger learns which tensor is which
    model.to_empty(device="cpu")
    stale = metaguard.check(model, "before-forward", optimizer=optimizer).errors
    assert sorted((f.code, f.tensor) for f in stale) == [("optimizer-stale-reference", "bias"),
                                                         ("optimizer-stale-reference", "weight")]
    assert "it was built for weight" in next(f for f in stale if f.tensor == "weight").message

    kept = meta(nn.Linear, 2, 2)
    optimizer = torch.optim.SGD(kept.parameters(), lr=0.1)
    assert [f.code for f in metaguard.check(kept, "before-forward", optimizer=optimizer).errors].count(
        "optimizer-stale-reference") == 2  # still on meta: a step would fail
    metaguard.repair(kept, device="cpu")
    assert metaguard.check(kept, "before-forward", optimizer=optimizer).ok
