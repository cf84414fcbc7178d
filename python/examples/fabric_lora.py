"""metaguard in a Lightning Fabric script: a LitGPT LoRA model built on the meta device,
materialized by metaguard.repair (each module's reset_parameters(), seeded, so every rank
gets the same bits), then guarded before the first forward and before saving.

    python python/examples/fabric_lora.py --out /tmp/fabric-lora
"""
import argparse
from pathlib import Path

import lightning as L
import torch
from litgpt.lora import GPT, Config, mark_only_lora_as_trainable

import metaguard


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="where the adapter checkpoint goes")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()

    fabric = L.Fabric(accelerator="cpu", devices=1)
    fabric.launch()
    config = Config.from_name("pythia-14m", lora_r=4, lora_alpha=8, lora_query=True, lora_value=True)
    with torch.device("meta"):
        model = GPT(config)
    metaguard.check(model, "init")  # the ledger's first entry: everything created on meta
    metaguard.repair(model, seed=42, device=fabric.device)
    mark_only_lora_as_trainable(model)

    model = fabric.setup(model)
    optimizer = fabric.setup_optimizers(torch.optim.AdamW([p for p in model.parameters() if p.requires_grad]))
    metaguard.guard(model, "before-forward")  # raises metaguard.MetaTensorError, naming the tensor
    tokens = torch.randint(0, config.vocab_size, (2, 17), generator=torch.Generator().manual_seed(0))
    for step in range(args.steps):
        logits = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
        fabric.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        fabric.print(f"step {step}: loss {loss.item():.4f}")

    metaguard.guard(model, "before-save")
    fabric.save(args.out / "lora.ckpt", {"model": model})
    fabric.print(f"saved {args.out / 'lora.ckpt'}")


if __name__ == "__main__":
    main()
