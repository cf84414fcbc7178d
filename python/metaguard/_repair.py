"""In-place repair of a live Python module: plan every fill first (so nothing changes when
one tensor cannot be filled), then give meta tensors storage on their module's device
(once per storage, so ties stay ties), then values: reset_parameters() of the owning
module under a seeded generator, or the recipe declared for the tensor."""
import torch

from . import _metaguard, _state

# Findings repair acts on: tensors without data, and derived tensors that differ from
# their recipe.
REPAIRABLE_CODES = frozenset({"meta-parameter", "meta-buffer", "meta-nonpersistent-buffer", "stale-derived-buffer"})


class _Place:
    """One walked tensor: where it lives and how it will be filled."""

    __slots__ = ("name", "kind", "meta", "storage_key", "tensor", "owner", "owner_path", "local", "recipe", "fill")

    def __init__(self, row):
        self.name, self.kind, self.meta, self.storage_key, self.tensor, self.owner, self.owner_path, self.local = row
        self.recipe = _state.recipes.get(self.owner, {}).get(self.local)
        # How the plan fills it: "recipe", "reset" (the owner's reset_parameters()) or
        # "storage" (a view of a tensor that a recipe fills).
        self.fill = None

    def registered(self):
        """The tensor object the owner holds under this name now (None for container entries)."""
        for registry in ("_parameters", "_buffers"):
            entries = self.owner.__dict__.get(registry, {})
            if self.local in entries:
                return entries[self.local]
        return self.owner.__dict__.get(self.local)

    def put_back(self, value):
        """Makes the owner hold `value` again under this name, in the registry it was in."""
        for registry in ("_parameters", "_buffers"):
            entries = self.owner.__dict__.get(registry, {})
            if self.local in entries:
                entries[self.local] = value
                return
        self.owner.__dict__[self.local] = value


def _error(message):
    from ._api import MetaTensorError

    return MetaTensorError(f"metaguard: {message}")


def _device_of(module, places):
    """The device of the first tensor with data that `module` holds itself, else None."""
    for place in places:
        if place.owner is module and not place.meta:
            return place.tensor.device
    return None


def _byte_range(tensor):
    """The bytes of its storage a tensor reaches: [first, end)."""
    if tensor.numel() == 0:
        return (0, 0)
    extent = 1 + sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride()))
    return (tensor.storage_offset() * tensor.element_size(), (tensor.storage_offset() + extent) * tensor.element_size())


def _filled_through_storage(place, selected):
    """True when a meta tensor shares its storage with one that a recipe fills and that
    reaches all its bytes (a view of a derived table): filling that one fills this one."""
    if not place.meta or not place.storage_key:
        return False
    first, end = _byte_range(place.tensor)
    for other in selected:
        if other is not place and other.storage_key == place.storage_key and other.recipe is not None:
            other_first, other_end = _byte_range(other.tensor)
            if other_first <= first and end <= other_end:
                return True
    return False


def _plan(places, names, root, device):
    selected = [p for p in places if (p.meta if names is None else p.name in names)]
    root_device = torch.device(device) if device is not None else next((p.tensor.device for p in places if not p.meta), None)
    for place in selected:
        if place.recipe is not None:
            place.fill = "recipe"
            continue
        if _filled_through_storage(place, selected):
            place.fill = "storage"
            continue
        if not place.meta:
            raise _error(f"cannot repair {place.name}: it holds data, and no recipe is declared to recompute it")
        if place.local not in place.owner.__dict__.get("_parameters", {}) and place.local not in place.owner.__dict__.get(
            "_buffers", {}
        ):
            raise _error(
                f"cannot repair {place.name}: an attribute tensor of {type(place.owner).__name__} with no recipe; "
                f"declare one: metaguard.declare_derived(module, {place.local!r}, fn)"
            )
        if not callable(getattr(place.owner, "reset_parameters", None)):
            raise _error(
                f"cannot repair {place.name}: {type(place.owner).__name__} has no reset_parameters() and no recipe "
                f"is declared; declare one: metaguard.declare_derived(module, {place.local!r}, fn)"
            )
        place.fill = "reset"
    targets = {}
    for place in selected:
        target = torch.device(device) if device is not None else (_device_of(place.owner, places) or root_device)
        if target is None and place.meta:
            raise _error(f"every tensor of {type(root).__name__} is on meta: pass device= to say where {place.name} goes")
        targets[id(place)] = target
    return selected, targets


def _allocate(selected, targets):
    """Storage for the meta tensors, one block per storage: tied names and views of one
    storage become views of one new storage. The tensor objects stay the same."""
    groups = {}
    for place in selected:
        if place.meta:
            key = place.storage_key or id(place.tensor)
            groups.setdefault(key, []).append(place)
    for members in groups.values():
        target = targets[id(members[0])]
        nbytes = max(_byte_range(place.tensor)[1] for place in members)
        storage = torch.empty(nbytes, dtype=torch.uint8, device=target).untyped_storage()
        with torch.no_grad():
            for place in members:
                t = place.tensor
                view = torch.empty(0, dtype=t.dtype, device=target).set_(storage, t.storage_offset(), t.shape, t.stride())
                _metaguard.swap_in_place(t, view)


def _back_to_meta(place):
    t = place.tensor
    _metaguard.swap_in_place(t, torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta"))


def _generator_devices():
    """The CUDA devices whose generators fork_rng must save: torch.manual_seed reseeds every
    one of them, and the caller's random streams must come out as they went in."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return list(range(torch.cuda.device_count()))
    return []


def _seeded_reset(owner, owner_path, seed):
    with torch.random.fork_rng(devices=_generator_devices()):
        torch.manual_seed(_metaguard.tensor_seed(seed, owner_path) % 2**63)
        with torch.no_grad():
            owner.reset_parameters()


def _unwritten_marks(places):
    """Marks the new storage so that "written" is told by its values, whatever path the write
    takes (a write through .data does not move the version counter): NaN in floating
    tensors; other dtypes fall back to the version counter."""
    marks = {}
    with torch.no_grad():
        for place in places:
            t = place.tensor
            if t.is_floating_point() or t.is_complex():
                t.fill_(float("nan"))
                marks[id(t)] = None
            else:
                marks[id(t)] = t._version
    return marks


def _written(tensor, mark):
    if tensor.numel() == 0:
        return True
    if mark is None:
        return not bool(torch.isnan(tensor).all())
    return tensor._version != mark


def _in_subtree(place, owner_path):
    return owner_path == "" or place.owner_path == owner_path or place.owner_path.startswith(owner_path + ".")


def _reset_owner(owner, owner_path, planned, places, seed):
    """reset_parameters() of `owner` for its `planned` tensors; every other tensor with data
    that the reset could touch is put back as it was. The reset first runs with the owner's
    children hidden, so a reset of the module's own tensors never reaches its children's
    (loaded) weights; a reset that needs its children then runs whole, with every tensor of
    the subtree kept aside."""
    planned_ids = {id(p.tensor) for p in planned}

    def kept_in(scope):
        return [(p, p.tensor.detach().clone()) for p in places
                if scope(p) and not p.meta and id(p.tensor) not in planned_ids]

    kept = kept_in(lambda p: p.owner is owner)
    marks = _unwritten_marks(planned)
    children = owner.__dict__.get("_modules")
    owner.__dict__["_modules"] = {}
    try:
        _seeded_reset(owner, owner_path, seed)
        needs_children = False
    except Exception:  # noqa: BLE001 (it reached for a child, or failed for its own reasons: run it whole)
        needs_children = True
    finally:
        owner.__dict__["_modules"] = children
    if needs_children:
        kept = kept_in(lambda p: _in_subtree(p, owner_path))
        marks = _unwritten_marks(planned)
        _seeded_reset(owner, owner_path, seed)
    with torch.no_grad():
        for place, values in kept:
            if place.registered() is not place.tensor:
                place.put_back(place.tensor)
            place.tensor.copy_(values)
        for place in planned:
            now = place.registered()
            if now is not place.tensor and isinstance(now, torch.Tensor) and now.shape == place.tensor.shape:
                place.tensor.copy_(now)  # reset_parameters() made a new tensor: keep the old object
                place.put_back(place.tensor)
            elif not _written(place.tensor, marks[id(place.tensor)]):
                raise _error(
                    f"cannot repair {place.name}: reset_parameters() of {type(owner).__name__} does not write it; "
                    f"declare a recipe: metaguard.declare_derived(module, {place.local!r}, fn)"
                )


def _fill_from_recipe(place):
    value = place.recipe(place.owner)
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(place.tensor.shape) or value.is_meta:
        got = f"{'a meta tensor of ' if isinstance(value, torch.Tensor) and value.is_meta else ''}shape " \
              f"{tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise _error(f"the recipe for {place.name} returned {got}, but the tensor has shape {tuple(place.tensor.shape)}")
    with torch.no_grad():
        place.tensor.copy_(value.to(device=place.tensor.device, dtype=place.tensor.dtype))


def repair_tensors(root, names, seed, device):
    """Repairs the named tensors of `root` (every meta tensor when `names` is None).
    Returns the names repaired, in walk order."""
    places = [_Place(row) for row in _state.walk(root).places()]
    selected, targets = _plan(places, names, root, device)
    was_meta = {id(p): p.meta for p in selected}
    try:
        _allocate(selected, targets)
        by_owner = {}
        for place in selected:
            if place.fill == "reset":
                by_owner.setdefault(id(place.owner), []).append(place)
        for owned in by_owner.values():
            _reset_owner(owned[0].owner, owned[0].owner_path, owned, places, seed)
        for place in selected:
            if place.fill == "recipe":
                _fill_from_recipe(place)
    except BaseException:
        # Whatever failed (a reset, a recipe, an allocation), no tensor is left holding
        # unwritten memory: what was meta goes back to meta.
        for place in selected:
            if was_meta[id(place)]:
                _back_to_meta(place)
        raise
    session = _state.session_of(root)
    for place in selected:
        if place.fill == "storage":
            how = "through the storage it shares with a tensor filled by its recipe"
        elif place.fill == "recipe":
            how = "by its declared recipe"
        else:
            how = f"by reset_parameters() of {type(place.owner).__name__}, seed {seed}"
        session.note(place.name, "repaired", how if was_meta[id(place)] else f"recomputed {how}")
    return [p.name for p in selected]
