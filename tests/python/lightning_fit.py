"""A LitGPT LoRA fine-tune in Lightning with metaguard's callback, run by test_lightning.py
on CPU with 2 processes (DDP over Gloo). The model carries LitGPT issue 1378's fault (the
LoRA index born on meta). `fail`: the callback stops the run before the model moves;
`repair`: it repairs the index from the declared recipe and the run trains, validates
and saves. Each rank writes what happened to OUT/rank<N>.json."""
import json
import sys
from pathlib import Path

import lightning as L
import torch
from lightning_fabric.utilities.init import _materialize_meta_tensors

import metaguard
from litgpt.lora import GPT, mark_only_lora_as_trainable
from litgpt_fault import lora_index, meta_born_lora_index, qkv_layers, reference_model, tiny_lora_config
from metaguard.lightning import MetaGuard


class LoRAFineTune(L.LightningModule):
    def __init__(self, declare_recipes):
        super().__init__()
        config = tiny_lora_config()
        reference = reference_model(config)
        with meta_born_lora_index():
            with torch.device("meta"):
                self.model = GPT(config)
        _materialize_meta_tensors(self.model, torch.device("cpu"))
        self.model.load_state_dict(reference.state_dict())
        mark_only_lora_as_trainable(self.model)
        if declare_recipes:
            for qkv in qkv_layers(self.model):
                metaguard.declare_derived(qkv, "lora_ind", lora_index)

    def loss(self, batch):
        logits = self.model(batch[:, :-1])
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1))

    def training_step(self, batch, batch_idx):
        return self.loss(batch)

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self.loss(batch), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.AdamW([p for p in self.parameters() if p.requires_grad], lr=1e-2)


def batches():
    data = torch.randint(0, 64, (16, 9), generator=torch.Generator().manual_seed(3))
    return torch.utils.data.DataLoader(data, batch_size=2)


def main(out_dir, mode):
    guard = MetaGuard(on_meta=mode, compare_ranks=True)
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=3, val_check_interval=2,
                        limit_val_batches=1, callbacks=[guard], default_root_dir=out_dir, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    module = LoRAFineTune(declare_recipes=(mode == "repair"))
    try:
        trainer.fit(module, batches(), batches())
        error = None
    except metaguard.MetaTensorError as raised:
        error = str(raised)
    index = qkv_layers(module.model)[0].__dict__["lora_ind"]
    result = {
        "rank": trainer.global_rank,
        "phases": [[phase, report.summary["repaired"], report.ok] for phase, report in guard.reports],
        "error": error,
        "index_on_meta": index.is_meta,
        "lora_A_sum": float(qkv_layers(module.model)[0].lora_A.detach().sum()),
        "checkpoints": sorted(p.name for p in Path(out_dir).rglob("*.ckpt")),
    }
    Path(out_dir, f"rank{trainer.global_rank}.json").write_text(json.dumps(result))
    if error:
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
