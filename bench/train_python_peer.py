#!/usr/bin/python3
"""The Python peer of `metaguard train` for bench/README-train.md.

PyTorch 1.13's own way to fine-tune with LoRA on several CPU ranks: DistributedDataParallel
over Gloo, one process per rank (torch.multiprocessing), AdamW on the adapters only,
gradient clipping, the same warmup + cosine schedule. The model is a GPT-NeoX (Pythia)
written out here from the same config file metaguard reads (fixtures/models/*.json), with
LitGPT-style LoRA on the fused QKV projection (query and value). Data: byte-level tokens
from the same corpus, (micro_batch, seq_len + 1) windows per rank.

Prints one JSON line: tokens_per_s over the optimizer steps (the same measure as
metaguard's training.tokens_per_s), seconds per step, losses.

Run with Debian's Python (python3-torch): /usr/bin/python3 bench/train_python_peer.py --help
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F


class LoRAQKV(nn.Module):
    def __init__(self, cfg, r, alpha):
        super().__init__()
        hs, nh, ng, e = cfg["head_size"], cfg["n_head"], cfg["n_query_groups"], cfg["n_embd"]
        self.q_size, self.kv_size = nh * hs, ng * hs
        self.linear = nn.Linear(e, (nh + 2 * ng) * hs, bias=cfg["bias"])
        self.lora_A = nn.Parameter(torch.empty(2 * r, e))  # query and value
        self.lora_B = nn.Parameter(torch.zeros(self.q_size + self.kv_size, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.r, self.scaling = r, alpha / r

    def forward(self, x):
        qkv = self.linear(x)
        a = self.lora_A.view(2, self.r, -1)
        q_update = (x @ a[0].t()) @ self.lora_B[: self.q_size].t()
        v_update = (x @ a[1].t()) @ self.lora_B[self.q_size:].t()
        q, k, v = qkv.split([self.q_size, self.kv_size, self.kv_size], dim=-1)
        return torch.cat([q + q_update * self.scaling, k, v + v_update * self.scaling], dim=-1)


def rope_cache(cfg, device):
    n_elem = int(cfg["rotary_percentage"] * cfg["head_size"])
    theta = 1.0 / (cfg["rope_base"] ** (torch.arange(0, n_elem, 2, device=device).float() / n_elem))
    idx_theta = torch.outer(torch.arange(cfg["block_size"], device=device).float(), theta).repeat(1, 2)
    return torch.cos(idx_theta), torch.sin(idx_theta), n_elem


def apply_rope(x, cos, sin):
    half = x.size(-1) // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class Block(nn.Module):
    def __init__(self, cfg, r, alpha):
        super().__init__()
        e = cfg["n_embd"]
        self.norm_1 = nn.LayerNorm(e, eps=cfg["norm_eps"])
        self.attn = LoRAQKV(cfg, r, alpha)
        self.proj = nn.Linear(cfg["n_head"] * cfg["head_size"], e, bias=cfg["bias"])
        self.norm_2 = nn.LayerNorm(e, eps=cfg["norm_eps"])
        self.fc = nn.Linear(e, cfg["intermediate_size"], bias=cfg["bias"])
        self.mlp_proj = nn.Linear(cfg["intermediate_size"], e, bias=cfg["bias"])
        self.cfg = cfg

    def attention(self, x, cos, sin, n_elem, mask):
        B, T, _ = x.shape
        nh, ng, hs = self.cfg["n_head"], self.cfg["n_query_groups"], self.cfg["head_size"]
        q, k, v = self.attn(x).split([nh * hs, ng * hs, ng * hs], dim=-1)
        q = q.view(B, T, nh, hs).transpose(1, 2)
        k = k.view(B, T, ng, hs).transpose(1, 2).repeat_interleave(nh // ng, dim=1)
        v = v.view(B, T, ng, hs).transpose(1, 2).repeat_interleave(nh // ng, dim=1)
        q = torch.cat((apply_rope(q[..., :n_elem], cos, sin), q[..., n_elem:]), dim=-1)
        k = torch.cat((apply_rope(k[..., :n_elem], cos, sin), k[..., n_elem:]), dim=-1)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, nh * hs)
        return self.proj(y)

    def forward(self, x, cos, sin, n_elem, mask):
        h = self.attention(self.norm_1(x), cos, sin, n_elem, mask)
        if self.cfg["parallel_residual"]:
            return x + h + self.mlp_proj(F.gelu(self.fc(self.norm_2(x))))
        x = x + h
        return x + self.mlp_proj(F.gelu(self.fc(self.norm_2(x))))


class GPT(nn.Module):
    def __init__(self, cfg, r, alpha):
        super().__init__()
        self.wte = nn.Embedding(cfg["padded_vocab_size"], cfg["n_embd"])
        self.h = nn.ModuleList(Block(cfg, r, alpha) for _ in range(cfg["n_layer"]))
        self.ln_f = nn.LayerNorm(cfg["n_embd"], eps=cfg["norm_eps"])
        self.lm_head = nn.Linear(cfg["n_embd"], cfg["padded_vocab_size"], bias=False)
        cos, sin, self.n_elem = rope_cache(cfg, "cpu")
        # Non-persistent, and bool: DDP must not broadcast it (Gloo refuses bool tensors).
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        mask = torch.ones(cfg["block_size"], cfg["block_size"], dtype=torch.bool).tril()
        self.register_buffer("mask_cache", mask, persistent=False)

    def forward(self, idx):
        T = idx.size(1)
        cos, sin, mask = self.cos[:T], self.sin[:T], self.mask_cache[:T, :T]
        x = self.wte(idx)
        for block in self.h:
            x = block(x, cos, sin, self.n_elem, mask)
        return self.lm_head(self.ln_f(x))


def lr_at(step, peak, warmup, total, floor_ratio=0.1):
    if step < warmup:
        return peak * (step + 1) / warmup
    decay = max(1, total - warmup - 1)
    progress = min(1.0, (step - warmup) / decay)
    floor = peak * floor_ratio
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def worker(rank, args, port, queue):
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=args.nproc)
    cfg = json.load(open(args.config))
    cfg.setdefault("n_query_groups", cfg["n_head"])
    torch.manual_seed(args.seed)
    model = GPT(cfg, args.r, args.alpha)
    for name, p in model.named_parameters():
        p.requires_grad_(name.endswith(("lora_A", "lora_B")))
    # Gloo refuses the bool mask: DDP must be told to leave it alone (it broadcasts every
    # buffer at construction otherwise), the workaround Python users need too.
    nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, ["mask_cache"])
    ddp = nn.parallel.DistributedDataParallel(model, broadcast_buffers=False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)
    data = torch.frombuffer(bytearray(open(args.data, "rb").read()), dtype=torch.uint8).long()
    train = data[: int(len(data) * 0.9)]
    generator = torch.Generator().manual_seed(args.seed + rank)
    per_rank = args.global_batch // args.nproc
    micro_steps = per_rank // args.micro_batch
    losses, start = [], None
    for step in range(args.steps):
        if step == args.skip:
            dist.barrier()
            start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args.lr, args.warmup, args.steps)
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for m in range(micro_steps):
            starts = torch.randint(0, len(train) - args.seq_len - 1, (args.micro_batch,), generator=generator)
            batch = torch.stack([train[s: s + args.seq_len + 1] for s in starts])
            logits = ddp(batch[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1))
            if m + 1 < micro_steps:
                with ddp.no_sync():
                    (loss / micro_steps).backward()
            else:
                (loss / micro_steps).backward()
            total += loss.item() / micro_steps
        torch.nn.utils.clip_grad_norm_(params, args.grad_clip)
        optimizer.step()
        losses.append(total)
    dist.barrier()
    seconds = time.perf_counter() - start
    if rank == 0:
        steps = args.steps - args.skip
        queue.put({"tokens_per_s": steps * args.global_batch * args.seq_len / seconds,
                   "seconds_per_step": seconds / steps, "steps_timed": steps, "losses": losses,
                   "threads_per_rank": args.threads, "torch": torch.__version__})
    dist.destroy_process_group()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=os.path.join(here, "..", "fixtures", "models", "pythia-14m.json"))
    parser.add_argument("--data", default=os.path.join(here, "..", "fixtures", "data", "corpus.txt"))
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--skip", type=int, default=0, help="steps before the clock starts")
    parser.add_argument("--global-batch", type=int, default=8)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--grad-clip", type=float, default=1.0)
    parser.add_argument("--r", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=16)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--port", type=int, default=29613)
    args = parser.parse_args()
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    mp.spawn(worker, args=(args, args.port, queue), nprocs=args.nproc, join=True)
    print(json.dumps(queue.get()))


if __name__ == "__main__":
    sys.exit(main())
