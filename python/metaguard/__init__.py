"""metaguard in a Python training script: find tensors stuck on PyTorch's meta device,
tell how they got there, and repair them in place (docs/PYTHON.md).

    import metaguard
    report = metaguard.check(model, phase="before-validation")
    metaguard.guard(model, "before-forward", on_meta="repair", seed=0)
"""
import torch  # (loads LibTorch before the extension that links it)

from . import _metaguard

# The extension links the LibTorch it was built against; another torch would fail later with
# an undefined symbol, or worse, silently.
if torch.__version__.split("+")[0] != _metaguard.TORCH_VERSION:
    raise ImportError(
        f"metaguard was built against torch {_metaguard.TORCH_VERSION} but this environment has torch "
        f"{torch.__version__}: reinstall it here (pip install --no-build-isolation .)"
    )
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
