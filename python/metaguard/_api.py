"""check, guard, repair and declare_derived: the library's checks on a live Python module."""
import warnings

import torch

from . import _arguments, _metaguard, _ranks, _repair, _state

PHASES = _arguments.PHASES
POLICIES = _arguments.POLICIES


class MetaTensorError(RuntimeError):
    """A guard found tensors without data where data is needed (or could not repair them).
    The message is the report as the command line prints it; `report` holds the findings."""

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report


class MetaTensorWarning(UserWarning):
    """guard(on_meta="warn") found tensors without data where data is needed."""


def _optimizer_tensors(optimizer):
    if optimizer is None:
        return None
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"metaguard: optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    return [(f"param_groups[{g}][{i}]", tensor) for g, group in enumerate(optimizer.param_groups)
            for i, tensor in enumerate(group["params"])]


def check(module, phase="before-forward", rank=None, allow=(), compare_ranks=False, optimizer=None):
    """Walks every parameter, buffer and attribute tensor of `module`, records the walk in the
    module's ledger under `phase`, runs every check and returns the Report (never raises on
    a finding). `rank` defaults to torch.distributed's rank when it is initialized.
    `compare_ranks=True` gathers every rank's content hashes in one collective (every rank
    must call it) and adds `rank-divergence` findings; all ranks then hold the same findings.
    `optimizer`: its tensors must be the model's own and hold data (`optimizer-stale-reference`:
    to_empty() from meta replaces parameters, leaving an optimizer built before stepping
    copies the model never sees)."""
    _arguments.require_module(module, "check")
    _arguments.require_phase(phase)
    globs = _arguments.allow_globs(allow)
    rank = _arguments.optional_rank(rank)
    if rank is None:
        rank = _ranks.distributed_rank()
    if not isinstance(compare_ranks, bool):
        raise TypeError(f"metaguard: compare_ranks must be True or False, got {type(compare_ranks).__name__}")
    walk = _state.walk(module, hash_contents=compare_ranks)
    digests = _ranks.gather_digests(walk.digest()) if compare_ranks else None
    if digests is not None and rank is None:
        raise ValueError("metaguard: compare_ranks=True needs this process's rank")
    return _state.session_of(module).check(walk, phase, rank, globs, digests, _optimizer_tensors(optimizer))


def guard(module, phase, on_meta="fail", rank=None, allow=(), compare_ranks=False, seed=0, device=None,
          optimizer=None):
    """check(), then act on its errors: "fail" raises MetaTensorError, "warn" warns
    (MetaTensorWarning), "repair" repairs in place (see repair()), checks again and raises
    only if errors remain. Returns the report."""
    _arguments.require_policy(on_meta)
    _arguments.seed_value(seed)
    report = check(module, phase, rank=rank, allow=allow, compare_ranks=compare_ranks, optimizer=optimizer)
    if report.ok:
        return report
    if on_meta == "warn":
        warnings.warn(str(report), MetaTensorWarning, stacklevel=2)
        return report
    if on_meta == "repair":
        # With compare_ranks the report holds every rank's findings; this rank repairs its own.
        own = rank if rank is not None else _ranks.distributed_rank()
        repairable = {f.tensor for f in report.errors
                      if f.code in _repair.REPAIRABLE_CODES and (f.rank is None or f.rank == own)}
        failure = None
        if repairable:
            try:
                _repair.repair_tensors(module, repairable, seed=seed, device=device)
            except MetaTensorError as error:
                failure = error  # raised after the second check, which every rank must join
        after = check(module, phase, rank=rank, allow=allow, compare_ranks=compare_ranks, optimizer=optimizer)
        report = _metaguard.merge_after_repair(report, after)
        if failure is not None:
            failure.report = report
            raise failure
        if report.ok:
            return report
    raise MetaTensorError(str(report), report)


def repair(module, seed=0, device=None):
    """Materializes every meta tensor of `module` in place on the module's device (or
    `device`) and gives it values: a declared recipe (declare_derived) for derived tensors,
    else the owning module's reset_parameters() under a generator seeded by (seed, module
    name), so every rank gets the same bits. Tensor objects stay the same (an optimizer
    built before still trains them); tied tensors stay tied. Raises MetaTensorError naming
    the first tensor that nothing can fill, before changing anything. Returns the names
    repaired."""
    _arguments.require_module(module, "repair")
    _arguments.seed_value(seed)
    return _repair.repair_tensors(module, None, seed=seed, device=device)


def declare_derived(module, name, fn):
    """Declares `module`'s tensor `name` (a buffer or attribute, as the report names it
    relative to `module`: "lora_ind", "cache[0]") derived: `fn(module)` recomputes it. check()
    then compares it with its recipe (`stale-derived-buffer`) and repair fills it from there."""
    _arguments.require_module(module, "declare_derived")
    if not isinstance(name, str) or not name:
        raise TypeError(f"metaguard.declare_derived: name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise TypeError(f"metaguard.declare_derived: fn must be callable (module -> tensor), got {type(fn).__name__}")
    _state.recipes.setdefault(module, {})[name] = fn
