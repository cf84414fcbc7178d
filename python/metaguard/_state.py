"""What metaguard remembers about a module between calls, without touching the module:
its ledger (one per root module) and the recipes declared for its derived tensors."""
import weakref

import torch

from . import _metaguard

# nn.Module's own __dict__ entries (registries, hooks, flags), in a fresh module's order:
# never a user's tensor.
MODULE_INTERNALS = tuple(torch.nn.Module().__dict__)

# root module -> _metaguard.Session (its ledger across phases)
_sessions = weakref.WeakKeyDictionary()
# owning module -> {local name: fn(module) -> tensor}
recipes = weakref.WeakKeyDictionary()


def session_of(module):
    session = _sessions.get(module)
    if session is None:
        session = _sessions[module] = _metaguard.Session()
    return session


def walk(module, hash_contents=False):
    return _metaguard.walk(module, hash_contents, recipes, MODULE_INTERNALS)
