"""Argument checks for the public functions: each bad argument is one clear sentence."""
import torch

from . import _metaguard

PHASES = tuple(name for name, _ in _metaguard.phases())
POLICIES = ("fail", "warn", "repair")


def require_module(module, function):
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"metaguard.{function}: expected a torch.nn.Module, got {type(module).__name__}")


def require_phase(phase):
    if not isinstance(phase, str):
        raise TypeError(f"metaguard: phase must be a string, got {type(phase).__name__}")
    if phase not in PHASES:
        raise ValueError(f"metaguard: unknown phase {phase!r} (one of: {', '.join(PHASES)})")


def require_policy(on_meta):
    if on_meta not in POLICIES:
        raise ValueError(f"metaguard: unknown on_meta policy {on_meta!r} (one of: {', '.join(POLICIES)})")


def allow_globs(allow):
    if isinstance(allow, str):
        return [allow]
    try:
        globs = list(allow)
    except TypeError:
        raise TypeError(f"metaguard: allow must be a glob or a sequence of globs, got {type(allow).__name__}") from None
    for glob in globs:
        if not isinstance(glob, str):
            raise TypeError(f"metaguard: allow must hold strings (tensor-name globs), got {type(glob).__name__}")
    return globs


def optional_rank(rank):
    if rank is None:
        return None
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
        raise ValueError(f"metaguard: rank must be a non-negative integer or None, got {rank!r}")
    return rank


def seed_value(seed):
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise ValueError(f"metaguard: seed must be an integer in [0, 2**64), got {seed!r}")
    return seed
