"""A Lightning callback that guards a LightningModule at the moments meta tensors bite.

    from metaguard.lightning import MetaGuard
    trainer = lightning.Trainer(callbacks=[MetaGuard(on_meta="fail")])

Lightning itself is not a dependency of metaguard; this module imports it when used.
"""
try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the standalone package
    from pytorch_lightning.callbacks import Callback

import torch

from . import _api, _arguments


class MetaGuard(Callback):
    """Runs metaguard.guard() on the LightningModule:

    - at fit start (the callback's `setup`), phase "before-transfer": before the strategy
      moves the model to its device and DDP broadcasts it (a meta tensor would crash that
      broadcast). Lightning runs it before the LightningModule's own `setup` and
      `configure_model`: a model built there is first guarded at the first batch or
      validation (call metaguard.guard at the end of configure_model to check it earlier);
    - before validation, phase "before-validation" (where LitGPT's 1378 struck);
    - before the first training batch, phase "before-forward";
    - before a checkpoint is saved, phase "before-save" (Lightning does not call callbacks
      for weights-only checkpoints, `ModelCheckpoint(save_weights_only=True)`: those are not
      guarded).

    Every report is kept in `reports` as (phase, report). With `compare_ranks=True` the ranks
    compare content hashes at each guard (every rank takes part)."""

    def __init__(self, on_meta="fail", allow=(), compare_ranks=False, seed=0):
        _arguments.require_policy(on_meta)
        _arguments.seed_value(seed)
        self.on_meta = on_meta
        self.allow = tuple(_arguments.allow_globs(allow))
        self.compare_ranks = compare_ranks
        self.seed = seed
        self.reports = []
        self._first_batch_seen = False

    def _guard(self, trainer, pl_module, phase):
        rank = trainer.global_rank if trainer.world_size > 1 else None
        # Once the optimizers exist, their tensors must be the model's own (one optimizer
        # checked: the first).
        optimizers = getattr(trainer, "optimizers", None) or []
        optimizer = optimizers[0] if optimizers and isinstance(optimizers[0], torch.optim.Optimizer) else None
        report = _api.guard(pl_module, phase, on_meta=self.on_meta, rank=rank, allow=self.allow,
                            compare_ranks=self.compare_ranks, seed=self.seed, optimizer=optimizer)
        self.reports.append((phase, report))

    def setup(self, trainer, pl_module, stage):
        if stage == "fit":
            self._first_batch_seen = False
            self._guard(trainer, pl_module, "before-transfer")

    def on_validation_start(self, trainer, pl_module):
        self._guard(trainer, pl_module, "before-validation")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if not self._first_batch_seen:
            self._first_batch_seen = True
            self._guard(trainer, pl_module, "before-forward")

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        self._guard(trainer, pl_module, "before-save")
        if self.reports[-1][1].summary["repaired"]:
            # The state dict was taken before this hook; take it again from the repaired model.
            checkpoint["state_dict"] = trainer.strategy.lightning_module_state_dict()
