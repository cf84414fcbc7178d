"""Run by torchrun (test_ranks.py): every rank builds the same model, `diverge` makes rank 1
initialize one tensor with its own seed, `repair-one` leaves a bias on meta on rank 1 only,
and each rank writes what metaguard found."""
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

import metaguard


def main(out_dir, mode):
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    if mode == "diverge" and rank == 1:
        torch.manual_seed(1)
        torch.nn.init.normal_(model[1].weight)
    if mode == "repair-one":
        # A bias left on meta on rank 1 only (its broadcast never came).
        if rank == 1:
            model[1].bias = torch.nn.Parameter(torch.empty(2, device="meta"))
    phase = "before-forward" if mode == "repair-one" else "broadcast"
    report = metaguard.check(model, phase, compare_ranks=True)
    raised = None
    try:
        on_meta = "repair" if mode == "repair-one" else "fail"
        metaguard.guard(model, phase, on_meta=on_meta, compare_ranks=True)
    except metaguard.MetaTensorError as error:
        raised = str(error)
        if error.report is not None:
            report = error.report
    result = {
        "rank": rank,
        "findings": [[f.code, f.tensor, f.rank, f.phase, f.repaired] for f in report.findings],
        "raised": raised,
    }
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
