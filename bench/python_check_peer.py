"""The peer of `metaguard.check` for bench/python_check_bench.py: the same walk and the
checks that apply to a live Python module, written in Python. Written for this benchmark.

What it does per call, as metaguard.check does: walk every parameter, buffer (persistent or
not) and attribute tensor (also in lists, tuples and dicts) in named_modules() order; one
record per tensor (name, kind, dtype, shape, device, bytes, storage and tensor identity,
write counter); diff against the previous call's records into history events (created,
materialized, moved, replaced, untied); then the checks: tensors on meta where the phase
needs data (message with the tensor's history), mixed devices within a module, ties that
no longer hold; findings sorted; a summary."""
import torch

MODULE_INTERNALS = frozenset(torch.nn.Module().__dict__)
NEEDS = {"init": (), "load": ("parameter", "buffer"), "broadcast": ("parameter", "buffer")}
ALL_KINDS = ("parameter", "buffer", "nonpersistent_buffer")
CODES = {"parameter": "meta-parameter", "buffer": "meta-buffer", "nonpersistent_buffer": "meta-nonpersistent-buffer"}


class PythonPeer:
    def __init__(self):
        self.previous = None
        self.history = {}
        self.initial_ties = None

    def walk(self, root):
        records = []

        def add(name, tensor, kind):
            storage = tensor.untyped_storage()
            records.append({
                "name": name, "kind": kind, "dtype": str(tensor.dtype).removeprefix("torch."),
                "shape": tuple(tensor.shape), "device": str(tensor.device),
                "nbytes": tensor.numel() * tensor.element_size(), "storage": storage._cdata,
                "tensor": id(tensor), "version": tensor._version,
            })

        def attribute(name, value, depth, seen):
            if isinstance(value, torch.Tensor):
                add(name, value, "nonpersistent_buffer")
            elif isinstance(value, (list, tuple)) and depth < 4 and id(value) not in seen:
                seen.add(id(value))
                for i, item in enumerate(value):
                    attribute(f"{name}[{i}]", item, depth + 1, seen)
            elif isinstance(value, dict) and depth < 4 and id(value) not in seen:
                seen.add(id(value))
                for key, item in value.items():
                    attribute(f"{name}[{key}]", item, depth + 1, seen)

        seen = set()
        for prefix, module in root.named_modules():
            dot = prefix + "." if prefix else ""
            for local, tensor in module._parameters.items():
                if tensor is not None:
                    add(dot + local, tensor, "parameter")
            nonpersistent = module._non_persistent_buffers_set
            for local, tensor in module._buffers.items():
                if tensor is not None:
                    add(dot + local, tensor, "nonpersistent_buffer" if local in nonpersistent else "buffer")
            for local, value in module.__dict__.items():
                if local not in MODULE_INTERNALS:
                    attribute(dot + local, value, 0, seen)
        return records

    def record(self, phase, records):
        previous = {r["name"]: r for r in self.previous} if self.previous else {}
        for r in records:
            before = previous.get(r["name"])
            if before is None:
                self.history.setdefault(r["name"], []).append(("created", phase, r["device"]))
                continue
            if before["tensor"] != r["tensor"]:
                self.history[r["name"]].append(("replaced", phase, r["device"]))
            if before["device"] == "meta" and r["device"] != "meta":
                self.history[r["name"]].append(("materialized", phase, r["device"]))
            elif before["device"] != r["device"]:
                self.history[r["name"]].append(("moved", phase, r["device"]))
        if self.initial_ties is None:
            self.initial_ties = ties(records)
        self.previous = records

    def cause(self, record):
        clauses = [f"created on {device} at {phase}" if event == "created" else f"{event} at {phase}"
                   for event, phase, device in self.history.get(record["name"], ())]
        if record["kind"] == "nonpersistent_buffer":
            clauses.append("never written (non-persistent: no checkpoint or broadcast carries it)")
        else:
            clauses.append("never initialized, loaded or received")
        return "; ".join(clauses)

    def check(self, root, phase):
        records = self.walk(root)
        self.record(phase, records)
        needs = NEEDS.get(phase, ALL_KINDS)
        findings = []
        by_module = {}
        for r in records:
            if r["device"] == "meta" and r["kind"] in needs:
                findings.append((r["name"], CODES[r["kind"]], "error",
                                 f"{r['kind']} {r['name']} is on meta at {phase} where its data is needed: "
                                 f"{self.cause(r)}; the first use will fail with "
                                 f"'Cannot copy out of meta tensor; no data!'."))
            if r["device"] != "meta":
                module = r["name"].rpartition(".")[0]
                by_module.setdefault(module, {}).setdefault(r["device"], []).append(r["name"])
        for module, devices in by_module.items():
            if len(devices) > 1:
                for device, names in devices.items():
                    for name in names:
                        findings.append((name, "mixed-devices", "error", f"{module} spans {sorted(devices)}"))
        storage_of = {r["name"]: r["storage"] for r in records}
        for group in self.initial_ties:
            first = storage_of.get(group[0])
            for name in group[1:]:
                if name in storage_of and storage_of[name] != first:
                    findings.append((name, "tied-weights-broken", "error", f"{name} no longer shares with {group[0]}"))
        findings.sort()
        summary = {"tensors": len(records), "meta": sum(r["device"] == "meta" for r in records),
                   "errors": sum(f[2] == "error" for f in findings)}
        return findings, summary


def ties(records):
    groups = {}
    for r in records:
        groups.setdefault(r["storage"], []).append(r["name"])
    return [names for names in groups.values() if len(names) > 1]
