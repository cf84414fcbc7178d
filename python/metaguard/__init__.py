"""metaguard in a Python training script: find tensors stuck on PyTorch's meta device,
tell how they got there, and repair them in place (docs/PYTHON.md).

    import metaguard
    report = metaguard.check(model, phase="before-validation")
    metaguard.guard(model, "before-forward", on_meta="repair", seed=0)
"""
import torch  # noqa: F401  (loads LibTorch before the extension that links it)

from . import _metaguard
from ._api import (
    PHASES,
    POLICIES,
    MetaTensorError,
    MetaTensorWarning,
    check,
    declare_derived,
    guard,
    repair,
)

Report = _metaguard.Report
Finding = _metaguard.Finding

__all__ = [
    "PHASES",
    "POLICIES",
    "Finding",
    "MetaTensorError",
    "MetaTensorWarning",
    "Report",
    "check",
    "declare_derived",
    "guard",
    "repair",
]
