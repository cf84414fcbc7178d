"""Python peer of `metaguard preflight --model llama-2-70b`: import torch, build a
llama-2-70b-shaped GPT (LoRA on query and value) on the meta device and walk its
parameters and buffers once, for one rank. Written for this benchmark, not LitGPT's code."""
import time

start = time.perf_counter()
import torch  # noqa: E402
from torch import nn  # noqa: E402

N_LAYER, N_EMBD, N_HEAD, N_GROUPS, HEAD, INTER, VOCAB, BLOCK, R = 80, 8192, 64, 8, 128, 28672, 32000, 4096, 8
QKV = (N_HEAD + 2 * N_GROUPS) * HEAD
META = torch.device("meta")


class LoRAQKV(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(N_EMBD, QKV, bias=False, device=META)
        self.lora_A = nn.Parameter(torch.empty(2 * R, N_EMBD, device=META))
        self.lora_B = nn.Parameter(torch.empty(N_HEAD * HEAD + N_GROUPS * HEAD, R, device=META))
        self.register_buffer("lora_ind", torch.empty(N_HEAD * HEAD + N_GROUPS * HEAD, dtype=torch.long, device=META), persistent=False)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm_1 = nn.Module()
        self.norm_1.weight = nn.Parameter(torch.empty(N_EMBD, device=META))
        self.attn = nn.Module()
        self.attn.attn = LoRAQKV()
        self.attn.proj = nn.Linear(N_EMBD, N_EMBD, bias=False, device=META)
        self.norm_2 = nn.Module()
        self.norm_2.weight = nn.Parameter(torch.empty(N_EMBD, device=META))
        self.mlp = nn.Module()
        self.mlp.fc_1 = nn.Linear(N_EMBD, INTER, bias=False, device=META)
        self.mlp.fc_2 = nn.Linear(N_EMBD, INTER, bias=False, device=META)
        self.mlp.proj = nn.Linear(INTER, N_EMBD, bias=False, device=META)


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.lm_head = nn.Linear(N_EMBD, VOCAB, bias=False, device=META)
        self.transformer = nn.Module()
        self.transformer.wte = nn.Embedding(VOCAB, N_EMBD, device=META)
        self.transformer.h = nn.ModuleList(Block() for _ in range(N_LAYER))
        self.transformer.ln_f = nn.Module()
        self.transformer.ln_f.weight = nn.Parameter(torch.empty(N_EMBD, device=META))
        self.register_buffer("cos", torch.empty(BLOCK, HEAD, device=META), persistent=False)
        self.register_buffer("sin", torch.empty(BLOCK, HEAD, device=META), persistent=False)


model = GPT()  # every tensor is created on meta (torch 1.13 has no device context)
records = [(n, t.dtype, tuple(t.shape), t.device) for n, t in model.named_parameters()]
records += [(n, t.dtype, tuple(t.shape), t.device) for n, t in model.named_buffers()]
meta = sum(1 for r in records if r[3].type == "meta")
print(f"{len(records)} tensors, {meta} meta, {time.perf_counter() - start:.3f} s")
