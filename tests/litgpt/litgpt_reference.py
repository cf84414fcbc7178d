#!/usr/bin/env python3
"""Reference data for metaguard's LitGPT compatibility tests, produced by LitGPT itself.

Run with the project's virtual environment (torch + litgpt==0.5.13), CPU only:

    .venv/bin/python tests/litgpt/litgpt_reference.py cases
    .venv/bin/python tests/litgpt/litgpt_reference.py make OUT_DIR [--case NAME ...]
    .venv/bin/python tests/litgpt/litgpt_reference.py check-save CASE_DIR [--lora FILE] [--merged FILE]
                                                    --expect-logits FILE [--atol 1e-5]
    .venv/bin/python tests/litgpt/litgpt_reference.py check-saves JOBS.json
    .venv/bin/python tests/litgpt/litgpt_reference.py census         # markdown, to stdout
    .venv/bin/python tests/litgpt/litgpt_reference.py write-cases    # regenerates cases.json

Subcommands
-----------
cases        Prints the JSON list of case names in tests/litgpt/cases.json (no torch import).

make         For every case (all by default) writes OUT_DIR/<case>/ (see "Files" below) from a
             LitGPT config shrunk by the rule in `shrink_config` and the case's LoRA settings.
             Checks while doing so, and exits 1 if one fails: LoRA logits vs merged logits
             (`litgpt.lora.merge_lora_weights`) <= 1e-5; the legacy file loaded into a fresh
             `litgpt.lora.GPT` gives bitwise the same logits; `litgpt.model.GPT` with
             base_model.pth equals the LoRA model with every lora_B zeroed (<= 1e-6). A line
             per case and the total time go to stderr.

check-save   Builds `litgpt.lora.GPT` from CASE_DIR/model_config.yaml plus the LoRA settings of
             CASE_DIR/meta.json, takes the base (non-`lora_`) weights of CASE_DIR/lit_model.pth,
             adds the adapters of --lora FILE (only `lora_A`/`lora_B` tensors; a plain state
             dict, or LitGPT's `lit_model.pth.lora` form {"model": {...}}), whose key set must
             equal the model's `lora_` keys exactly (else missing/unexpected are printed, exit 1),
             loads the union with strict=True and compares the logits on CASE_DIR/tokens.bin with
             --expect-logits (raw float32). With --merged FILE, FILE is loaded with strict=True
             into `litgpt.model.GPT` (LitGPT's merged `lit_model.pth`: plain keys, no adapters)
             and compared the same way. Prints one JSON line
             {"max_abs_diff": worst, "ok": all, "atol": ..., "checks": {"lora": {...}, "merged": {...}}}
             ("max_abs_diff" is absent when a file's keys or shapes did not even load; the check
             then holds "missing"/"unexpected" or "load_error"); exit 0 ok, 1 mismatch, 2 bad
             input (one line on stderr). torch.load is always called with weights_only=True.

check-saves  The same for a JSON list of jobs [{"case_dir", "expect_logits", "lora"?, "merged"?,
             "atol"?}] in one process (each check-save process spends ~4 s importing torch and
             litgpt): one JSON line per job (with its "case_dir"), then a summary line
             {"jobs": n, "ok": all, "max_abs_diff": worst}; exit 0/1/2 as check-save.

census       Markdown: how many of LitGPT's configs use each feature, and which case covers it
             (docs/litgpt-feature-census.md is this output).

write-cases  Regenerates tests/litgpt/cases.json from the tables in this file (CASE_TABLE,
             TARGET_VARIANTS, SYNTHETIC_CASES) and checks every feature set found in LitGPT's
             catalog has a case.

Files of a case directory (all little-endian, row-major, no header)
--------------------------------------------------------------------
model_config.yaml   `litgpt.utils.save_config` of the shrunk *base* `litgpt.config.Config`:
                    yaml.dump(asdict(config)), keys sorted, every Config field (derived ones
                    resolved), no lora_* fields. (LitGPT writes model_config.yaml only for base
                    checkpoints, in convert_hf_checkpoint/pretrain; `finetune lora` copies it and
                    keeps lora_* in hyperparameters.yaml. save_config on a `litgpt.lora.Config`
                    would add the eight lora_* fields.)
lit_model.pth       torch.save(state_dict) of `litgpt.lora.GPT`, current layout (`attn.qkv.*`,
                    fused rows [all q heads | all k groups | all v groups]).
lit_model_legacy.pth  The same values in the legacy layout: `attn.attn.*` instead of `attn.qkv.*`,
                    fused weight/bias rows interleaved per query group (group g: its q_per_kv
                    query heads, its key head, its value head). lora_A/lora_B values unchanged,
                    keys renamed `attn.attn.lora_A/B` too.
base_model.pth      `litgpt.model.GPT` state dict: the same base weights, no adapters.
merged_model.pth    The LoRA model after `merge_lora_weights`, keys as LitGPT's merge_lora
                    writes them (no lora_*, `.linear.` dropped): load into `litgpt.model.GPT`.
tokens.bin          int64, shape (2, T), T = min(block_size, 16), values in [0, vocab_size).
logits.bin          float32, (2, T, padded_vocab_size): LoRA model, eval mode, on tokens.
merged_logits.bin   float32, same shape: after merge_lora_weights.
base_logits.bin     float32, same shape: litgpt.model.GPT with base_model.pth.
meta.json           case, litgpt_name, config (asdict of the litgpt.lora.Config), lora, features,
                    traits, shapes, files, loss, checks, sensitivity, seed, versions.

Everything runs on CPU in float32 with one thread, torch.use_deterministic_algorithms(True) and
seeds derived from the case name (crc32), so a case's data does not depend on which other cases
are made.
"""

import argparse
import copy
import dataclasses
import json
import math
import os
import sys
import time
import zlib
from pathlib import Path

PROG = "litgpt_reference"
PINNED_LITGPT = "0.5.13"
HERE = Path(__file__).resolve().parent
CASES_FILE = HERE / "cases.json"
REPO_ROOT = HERE.parent.parent

BATCH = 2
MAX_T = 16
LORA_B_STD = 0.05
QK_GAIN = 3.0  # q and k rows of the fused qkv weight: attention scores ~9x, so softcapping matters
FC_GAIN = 2.0  # MLP input projections (fc, fc_1, fc_2): GELU inputs reach where tanh-GELU differs
MERGE_ATOL = 1e-5
BASE_ATOL = 1e-6
SENSITIVITY_MIN = 1e-4  # a feature whose removal changes the logits less than this is reported

LORA_FIELDS = (
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_query",
    "lora_key",
    "lora_value",
    "lora_projection",
    "lora_mlp",
    "lora_head",
)
TARGETS = ("query", "key", "value", "projection", "mlp", "head")


class InputError(Exception):
    """Bad input: reported as one line, exit status 2."""


class CheckFailed(Exception):
    """A reference check failed: exit status 1."""


def fail(message: str, status: int = 2):
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(status)


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------

# The vocabulary the C++ side uses. Order is the order of the census table.
FEATURES = {
    "attn_bias": "fused qkv has a bias although `bias` is false (attn_bias)",
    "norm_qk": "RMS/LayerNorm on q and k per head (norm_qk, norm_qk_type default), after the head split",
    "norm_qk_olmo2": "norm on the whole q and k projections before the head split (norm_qk_type olmo2)",
    "head_size_decoupled": "head_size * n_head != n_embd",
    "post_norms": "post_attention_norm and/or post_mlp_norm",
    "gelu_tanh": "gelu_approximate 'tanh' in a GELU MLP (GptNeoxMLP or GemmaMLP)",
    "sliding_window": "sliding_window_size set, used where sliding_window_indices has 1",
    "rope_llama3": "rope_adjustments with low/high_freq_factor (Llama 3.1 style)",
    "rope_yarn": "rope_adjustments with beta_fast/beta_slow (YaRN)",
    "rope_linear": "rope_adjustments with only factor (linear position interpolation)",
    "scale_embeddings": "embeddings multiplied by sqrt(n_embd)",
    "gemma_mlp": "GemmaMLP: gelu(fc_1 x) * fc_2 x",
    "rmsnorm_unit_offset": "RMSNorm weight used as 1 + w (RMSNorm and 'Gemma' in the config name)",
    "moe": "LLaMAMoE mixture of experts",
    "moe_shared_experts": "MoE with n_shared_expert",
    "grouped_router": "MoE with GroupedTopkRouter (n_expert_groups)",
    "attention_scores_scalar": "attention scale 1/sqrt(attention_scores_scalar), != head_size",
    "norm_1_2_off": "norm_1 and/or norm_2 disabled (Identity)",
    "attention_softcapping": "attention_logit_softcapping",
    "final_softcapping": "final_logit_softcapping",
    "rope_local_base": "rope_local_base_freq: a second RoPE cache chosen per layer by rope_indices",
    "shared_attention_norm": "parallel residual whose MLP reuses norm_1's output (no norm_2)",
    "layernorm_no_affine": "LayerNorm without weight/bias (LayerNorm and 'OLMo' in the config name)",
    "lm_head_bias": "lm_head has a bias",
    "rope_condense_ratio": "positions divided by rope_condense_ratio != 1",
    "rope_interleave": "RoPE on interleaved (even, odd) pairs",
    "latent_attention": "multi-head latent attention (latent_attention)",
    "first_k_dense": "first_k_dense_replace: dense MLP in the first layers of a MoE model",
    "parallel_residual": "x + attn(norm_1 x) + mlp(norm_2 x)",
    "non_parallel_residual": "x += attn(norm_1 x); x += mlp(norm_2 x)",
    "gqa": "1 < n_query_groups < n_head",
    "mqa": "n_query_groups == 1 < n_head",
}

# Extra descriptive traits (not part of the C++ feature vocabulary), kept apart in "traits".
TRAITS = {
    "mha": "n_query_groups == n_head",
    "partial_rotary": "rotary_percentage < 1",
    "linear_bias": "bias true (every linear but lm_head has a bias)",
    "layernorm": "norm_class_name LayerNorm",
    "rmsnorm": "norm_class_name RMSNorm",
    "llama_mlp": "mlp_class_name LLaMAMLP (or LLaMAMoE experts)",
    "gptneox_mlp": "mlp_class_name GptNeoxMLP",
    "sliding_window_mixed": "sliding window on some layers only",
    "rope_local_mixed": "rope_indices uses both RoPE caches",
}


def config_features(c) -> list:
    """The FEATURES a resolved litgpt Config uses, in FEATURES order."""
    gelu_mlp = c.mlp_class_name in ("GptNeoxMLP", "GemmaMLP")
    adj = c.rope_adjustments or {}
    scores_dim = c.qk_head_dim if c.latent_attention else c.head_size
    checks = {
        "attn_bias": bool(c.attn_bias) and not c.bias,
        "norm_qk": bool(c.norm_qk) and c.norm_qk_type != "olmo2",
        "norm_qk_olmo2": bool(c.norm_qk) and c.norm_qk_type == "olmo2",
        "head_size_decoupled": c.head_size * c.n_head != c.n_embd,
        "post_norms": bool(c.post_attention_norm or c.post_mlp_norm),
        "gelu_tanh": gelu_mlp and c.gelu_approximate == "tanh",
        "sliding_window": c.sliding_window_size is not None and any(c.sliding_window_indices or []),
        "rope_llama3": "low_freq_factor" in adj or "high_freq_factor" in adj,
        "rope_yarn": "beta_fast" in adj or "beta_slow" in adj,
        "rope_linear": "factor" in adj
        and not any(k in adj for k in ("low_freq_factor", "high_freq_factor", "beta_fast", "beta_slow")),
        "scale_embeddings": bool(c.scale_embeddings),
        "gemma_mlp": c.mlp_class_name == "GemmaMLP",
        "rmsnorm_unit_offset": c.norm_class_name == "RMSNorm" and "Gemma" in c.name,
        "moe": c.mlp_class_name == "LLaMAMoE",
        "moe_shared_experts": c.mlp_class_name == "LLaMAMoE" and bool(c.n_shared_expert),
        "grouped_router": c.mlp_class_name == "LLaMAMoE" and bool(c.n_expert_groups),
        "attention_scores_scalar": c.attention_scores_scalar is not None and c.attention_scores_scalar != scores_dim,
        "norm_1_2_off": not c.norm_1 or not c.norm_2,
        "attention_softcapping": c.attention_logit_softcapping is not None,
        "final_softcapping": c.final_logit_softcapping is not None,
        "rope_local_base": c.rope_local_base_freq is not None,
        "shared_attention_norm": bool(c.shared_attention_norm) and bool(c.parallel_residual),
        "layernorm_no_affine": c.norm_class_name == "LayerNorm" and "OLMo" in c.name,
        "lm_head_bias": bool(c.lm_head_bias),
        "rope_condense_ratio": c.rope_condense_ratio != 1,
        "rope_interleave": bool(c.rope_interleave),
        "latent_attention": c.latent_attention is not None,
        "first_k_dense": c.mlp_class_name == "LLaMAMoE" and bool(c.first_k_dense_replace),
        "parallel_residual": bool(c.parallel_residual),
        "non_parallel_residual": not c.parallel_residual,
        "gqa": 1 < c.n_query_groups < c.n_head,
        "mqa": c.n_query_groups == 1 < c.n_head,
    }
    assert set(checks) == set(FEATURES)
    return [f for f in FEATURES if checks[f]]


def config_traits(c) -> list:
    checks = {
        "mha": c.n_query_groups == c.n_head,
        "partial_rotary": c.rotary_percentage < 1,
        "linear_bias": bool(c.bias),
        "layernorm": c.norm_class_name == "LayerNorm",
        "rmsnorm": c.norm_class_name == "RMSNorm",
        "llama_mlp": c.mlp_class_name in ("LLaMAMLP", "LLaMAMoE"),
        "gptneox_mlp": c.mlp_class_name == "GptNeoxMLP",
        "sliding_window_mixed": c.sliding_window_size is not None and len(set(c.sliding_window_indices or [])) > 1,
        "rope_local_mixed": c.rope_local_base_freq is not None and len(set(c.rope_indices or [])) > 1,
    }
    assert set(checks) == set(TRAITS)
    return [t for t in TRAITS if checks[t]]


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------

# One case per distinct feature set of LitGPT 0.5.13's catalog (26 sets over 210 configs),
# named after the family it comes from. write-cases refuses to run if a feature set has no case.
CASE_TABLE = [
    ("pythia", "pythia-14m"),
    ("llama-2", "Llama-2-7b-hf"),
    ("llama-2-32k", "LLaMA-2-7B-32K"),
    ("llama-3", "Llama-3-8B"),
    ("llama-3.1", "Llama-3.1-8B"),
    ("mistral", "Mistral-7B-v0.1"),
    ("mixtral", "Mixtral-8x7B-v0.1"),
    ("qwen2.5", "Qwen2.5-0.5B"),
    ("qwen3", "Qwen3-8B"),
    ("qwen3-decoupled", "Qwen3-0.6B"),
    ("qwen3-moe", "Qwen3-30B-A3B"),
    ("gemma", "Gemma-7b"),
    ("gemma-mqa", "Gemma-2b"),
    ("gemma-2", "Gemma-2-2b"),
    ("gemma-2-scalar", "Gemma-2-27b"),
    ("gemma-3", "Gemma-3-4b-it"),
    ("gemma-3-mqa", "Gemma-3-1b-it"),
    ("gemma-3-scalar", "Gemma-3-27b-it"),
    ("phi-2", "phi-2"),
    ("phi-3", "Phi-3-mini-4k-instruct"),
    ("phi-4-mini", "Phi-4-mini-instruct"),
    ("olmo", "OLMo-1B-hf"),
    ("olmo-2", "OLMo-2-1124-7B"),
    ("falcon-7b", "falcon-7b"),
    ("falcon-40b", "falcon-40b"),
    ("stablelm-3b", "stablelm-3b-4e1t"),
]

# Target-set variants, for one MHA family and one GQA family (the base case has all targets).
TARGET_VARIANT_FAMILIES = ("pythia", "llama-3")
TARGET_VARIANTS = [
    ("q", ("query",)),
    ("k", ("key",)),
    ("v", ("value",)),
    ("qv", ("query", "value")),
    ("qkv", ("query", "key", "value")),
    ("proj", ("projection",)),
    ("mlp", ("mlp",)),
    ("head", ("head",)),
]

# Model features that no 0.5.13 config uses but litgpt.lora.GPT runs: synthetic overrides on a
# real config (applied after shrinking). Latent attention, shared experts, the grouped router and
# first_k_dense are not here: litgpt.lora.GPT does not build them (see the census notes).
SYNTHETIC_CASES = [
    (
        "synthetic-rope-yarn",
        "Llama-3-8B",
        {
            "rope_adjustments": {
                "factor": 4.0,
                "beta_fast": 32.0,
                "beta_slow": 1.0,
                "original_max_seq_len": 512,
                "mscale": 1.0,
                "mscale_all_dim": 0.707,
            }
        },
    ),
    ("synthetic-rope-interleave", "Llama-3-8B", {"rope_interleave": True}),
]


def lora_settings(targets) -> dict:
    settings = {"lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0}
    for t in TARGETS:
        settings[f"lora_{t}"] = t in targets
    return settings


def load_cases() -> list:
    try:
        data = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read {CASES_FILE}: {e.strerror}")
    except json.JSONDecodeError as e:
        raise InputError(f"{CASES_FILE} is not JSON: {e}")
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(cases, list) or not all(isinstance(c, dict) and "case" in c for c in cases):
        raise InputError(f"{CASES_FILE}: expected {{\"cases\": [{{\"case\": ...}}, ...]}}")
    return cases


# --------------------------------------------------------------------------------------------
# The shrink rule
# --------------------------------------------------------------------------------------------

SHRINK_RULE = """\
Shrink rule (shrink_config): start from the resolved LitGPT Config (every field, derived ones
filled in), keep every flag and feature field (name, norms, MLP class, biases, residual style,
rotary_percentage, rope_base, rope_local_base_freq, softcapping values, norm_eps, ...), and set:
- n_layer: 2, or more so that the first layers of sliding_window_indices / rope_indices contain
  both values where the original pattern has both (the pattern is the original's prefix; Gemma 3's
  5 local : 1 global gives 6 layers); first_k_dense_replace -> 1 with n_layer >= 2.
- heads: MHA -> n_head = n_query_groups = 4; MQA -> 4 heads, 1 group; GQA -> 6 heads, 2 groups
  (q_per_kv = 3 != n_query_groups, so the two cannot be swapped unnoticed).
- head_size: the smallest of 8, 16, 32 giving an even rope_n_elem >= 4 (16 when the original
  n_embd < n_head * head_size); n_embd = n_head * head_size, or (head_size_decoupled) that width
  times the original's n_embd / (n_head * head_size) rounded to a multiple of 8, never equal to it.
- attention_scores_scalar: scaled by new/old head_size (so == head_size stays ==, != stays !=).
- intermediate_size 80; moe_intermediate_size 24 where set; n_expert 4, n_expert_per_token 2.
- vocab_size 100, padded_vocab_size 128; block_size 32 (T = 16 tokens); sliding_window_size 4.
- rope_adjustments kept, but a Llama-3 style original_max_seq_len is set to
  2*pi/theta_1 * (low_freq_factor + high_freq_factor) / 2 (theta_1 the second inverse frequency
  of the shrunk cache): the first frequency is left alone, the second blended halfway, the rest
  divided by factor. (Scaling 8192 by the block-size ratio would give 2: every frequency simply
  divided by factor, the blend never exercised.)
The features of the shrunk config must equal the original's (checked).
"""


def _round8(x: float) -> int:
    return max(8, int(round(x / 8.0)) * 8)


def shrink_config(raw: dict, overrides: dict | None = None) -> dict:
    """Keyword arguments for litgpt.config.Config: a small model with the same features."""
    from litgpt.config import Config

    orig = Config(**copy.deepcopy(raw))
    d = {f.name: copy.deepcopy(getattr(orig, f.name)) for f in dataclasses.fields(Config)}

    # Layers: keep per-layer patterns' both values.
    n_layer = 2
    patterns = []
    if orig.sliding_window_size is not None:
        patterns.append("sliding_window_indices")
    if orig.rope_local_base_freq is not None:
        patterns.append("rope_indices")
    for key in patterns:
        ind = list(getattr(orig, key))
        if len(set(ind)) > 1:
            first_other = next(i for i, v in enumerate(ind) if v != ind[0])
            n_layer = max(n_layer, first_other + 1)
    if orig.first_k_dense_replace:
        d["first_k_dense_replace"] = 1
    n_layer = min(n_layer, max(orig.n_layer, 2))
    d["n_layer"] = n_layer
    for key in patterns:
        d[key] = list(getattr(orig, key))[:n_layer]

    # Heads.
    if orig.n_query_groups == orig.n_head:
        n_head, groups = 4, 4
    elif orig.n_query_groups == 1:
        n_head, groups = 4, 1
    else:
        n_head, groups = 6, 2
    ratio = orig.n_embd / (orig.n_head * orig.head_size)
    head_size = None
    for cand in (8, 16, 32):
        rope = int(orig.rotary_percentage * cand)
        if rope >= 4 and rope % 2 == 0:
            head_size = cand
            break
    if head_size is None:
        raise ValueError(f"{orig.name}: no small head_size gives an even rope_n_elem")
    if ratio < 1:
        head_size = max(head_size, 16)
    width = n_head * head_size
    if orig.head_size * orig.n_head == orig.n_embd:
        n_embd = width
    else:
        n_embd = _round8(width * ratio)
        if n_embd == width:
            n_embd = width + 8 if ratio > 1 else width - 8
    d.update(n_head=n_head, n_query_groups=groups, head_size=head_size, n_embd=n_embd)

    if orig.attention_scores_scalar is not None:
        if orig.attention_scores_scalar == orig.head_size:
            d["attention_scores_scalar"] = head_size
        else:
            scalar = max(1, int(round(orig.attention_scores_scalar * head_size / orig.head_size)))
            d["attention_scores_scalar"] = scalar if scalar != head_size else head_size + 1

    # MLP / MoE.
    d["intermediate_size"] = 80
    if orig.moe_intermediate_size is not None:
        d["moe_intermediate_size"] = 24
    if orig.n_expert:
        d["n_expert"] = 4
        d["n_expert_per_token"] = 2
    if orig.n_expert_groups:
        d.update(n_expert_groups=2, n_topk_groups=1, n_topk_scores_per_group=2)

    # Vocabulary, context, window.
    d["vocab_size"] = 100
    d["padded_vocab_size"] = 128
    d["block_size"] = 32
    if orig.sliding_window_size is not None:
        d["sliding_window_size"] = 4

    if orig.latent_attention is not None:
        d["latent_attention"] = dict(
            q_lora_rank=16, kv_lora_rank=12, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8
        )

    if overrides:
        d.update(copy.deepcopy(overrides))

    adj = d.get("rope_adjustments")
    if adj and ("low_freq_factor" in adj or "high_freq_factor" in adj) and not (overrides or {}).get(
        "rope_adjustments"
    ):
        rope_n_elem = int(d["rotary_percentage"] * head_size)
        theta_1 = d["rope_base"] ** (-2.0 / rope_n_elem)
        wavelen_1 = 2 * math.pi / theta_1
        adj = dict(adj)
        adj["original_max_seq_len"] = int(round(wavelen_1 * (adj["low_freq_factor"] + adj["high_freq_factor"]) / 2))
        d["rope_adjustments"] = adj

    shrunk = Config(**copy.deepcopy(d))
    want = config_features(orig) if not overrides else None
    if want is not None and config_features(shrunk) != want:
        raise ValueError(
            f"{orig.name}: shrinking changed the features {want} -> {config_features(shrunk)}"
        )
    return d


# --------------------------------------------------------------------------------------------
# torch helpers
# --------------------------------------------------------------------------------------------


def setup_torch():
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    return torch


def case_seed(case: str) -> int:
    return zlib.crc32(case.encode("utf-8")) & 0x7FFFFFFF


def init_parameters(model, seed: int) -> None:
    """Fills every parameter from one generator, in named_parameters order.

    Linear weight/bias and lora_A: U(-b, b), b = 1/sqrt(in_features) (nn.Linear's default and
    LitGPT's kaiming_uniform(a=sqrt(5)) for lora_A), except b x 3 for the query and key rows of
    the fused qkv weight and b x 2 for the MLP input weights (fc, fc_1, fc_2, experts included);
    embedding N(0, 1), or N(0, 1/n_embd) with scale_embeddings (the scaled embedding is then of
    unit size); norm weights 1 + 0.1 N(0,1), 0.1 N(0,1) where RMSNorm adds the unit offset; norm
    biases 0.1 N(0,1); lora_B 0.05 N(0,1) (LitGPT starts it at zero, which would hide adapter
    bugs). The gains make small-effect features (softcapping, tanh GELU) move the logits by
    1e-4 or more: see meta.json "sensitivity".
    """
    import torch
    import torch.nn as nn
    from litgpt.model import GroupedTopkRouter, RMSNorm

    gen = torch.Generator().manual_seed(seed)
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, p in model.named_parameters():
            owner_name, _, leaf = name.rpartition(".")
            owner = modules[owner_name]
            if leaf == "lora_A":
                bound = 1.0 / math.sqrt(p.shape[1])
                p.copy_(torch.rand(p.shape, generator=gen) * 2 * bound - bound)
            elif leaf == "lora_B":
                p.copy_(torch.randn(p.shape, generator=gen) * LORA_B_STD)
            elif isinstance(owner, nn.Linear):
                bound = 1.0 / math.sqrt(owner.in_features)
                if leaf == "weight" and owner_name.endswith((".mlp.fc.linear", ".fc_1.linear", ".fc_2.linear")):
                    bound *= FC_GAIN
                p.copy_(torch.rand(p.shape, generator=gen) * 2 * bound - bound)
                if leaf == "weight" and owner_name.endswith(".attn.qkv.linear"):
                    cfg = model.config
                    p[: (cfg.n_head + cfg.n_query_groups) * cfg.head_size] *= QK_GAIN
            elif isinstance(owner, nn.Embedding):
                std = 1.0 / math.sqrt(p.shape[1]) if model.config.scale_embeddings else 1.0
                p.copy_(torch.randn(p.shape, generator=gen) * std)
            elif isinstance(owner, RMSNorm):
                noise = torch.randn(p.shape, generator=gen) * 0.1
                p.copy_(noise if owner.add_unit_offset else 1.0 + noise)
            elif isinstance(owner, nn.LayerNorm):
                noise = torch.randn(p.shape, generator=gen) * 0.1
                p.copy_(1.0 + noise if leaf == "weight" else noise)
            elif isinstance(owner, GroupedTopkRouter):
                bound = 1.0 / math.sqrt(p.shape[1])
                p.copy_(torch.rand(p.shape, generator=gen) * 2 * bound - bound)
            else:
                raise RuntimeError(f"no init rule for parameter {name} of {type(owner).__name__}")


def to_legacy_fused(t, n_head: int, n_query_groups: int, head_size: int):
    """[all q | all k | all v] rows -> per group g: q heads of g, k head g, v head g."""
    import torch

    q_per_kv = n_head // n_query_groups
    q_rows = n_head * head_size
    kv_rows = n_query_groups * head_size
    if t.shape[0] != q_rows + 2 * kv_rows:
        raise RuntimeError(f"fused qkv has {t.shape[0]} rows, expected {q_rows + 2 * kv_rows}")
    rest = tuple(t.shape[1:])
    q = t[:q_rows].reshape(n_query_groups, q_per_kv * head_size, *rest)
    k = t[q_rows : q_rows + kv_rows].reshape(n_query_groups, head_size, *rest)
    v = t[q_rows + kv_rows :].reshape(n_query_groups, head_size, *rest)
    return torch.cat((q, k, v), dim=1).reshape(t.shape).contiguous()


def legacy_state_dict(sd: dict, cfg) -> dict:
    out = {}
    for key, value in sd.items():
        if ".attn.qkv." in key:
            new_key = key.replace(".attn.qkv.", ".attn.attn.")
            if key.endswith(".linear.weight") or key.endswith(".linear.bias"):
                value = to_legacy_fused(value, cfg.n_head, cfg.n_query_groups, cfg.head_size)
            out[new_key] = value
        else:
            out[key] = value
    return out


def base_state_dict(sd: dict) -> dict:
    """LoRA-model keys -> litgpt.model.GPT keys (no adapters, `.linear.` dropped)."""
    return {k.replace(".linear.", "."): v for k, v in sd.items() if "lora_" not in k}


def write_raw(path: Path, tensor, dtype: str) -> None:
    import numpy as np

    arr = tensor.detach().cpu().contiguous().numpy().astype(np.dtype(dtype), copy=False)
    path.write_bytes(arr.tobytes(order="C"))


def read_raw(path: Path, dtype: str, shape):
    import numpy as np
    import torch

    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}")
    n = 1
    for s in shape:
        n *= s
    want = n * np.dtype(dtype).itemsize
    if len(data) != want:
        raise InputError(f"{path}: {len(data)} bytes, expected {want} ({dtype}, shape {list(shape)})")
    return torch.from_numpy(np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape).copy())


def max_abs_diff(a, b) -> float:
    return float((a.double() - b.double()).abs().max().item())


# --------------------------------------------------------------------------------------------
# make
# --------------------------------------------------------------------------------------------

# How each feature is switched off for the sensitivity measurement (logits of the same weights
# with the feature removed). None: not removable without changing the parameter set's meaning.
def _sensitivity_edits(d: dict) -> dict:
    name = d["name"]
    edits = {
        "attn_bias": {"attn_bias": False},
        "norm_qk": {"norm_qk": False},
        "norm_qk_olmo2": {"norm_qk": False},
        "post_norms": {"post_attention_norm": False, "post_mlp_norm": False},
        "gelu_tanh": {"gelu_approximate": "none"},
        "sliding_window": {"sliding_window_size": None},
        "rope_llama3": {"rope_adjustments": None},
        "rope_yarn": {"rope_adjustments": None},
        "rope_linear": {"rope_adjustments": None},
        "scale_embeddings": {"scale_embeddings": False},
        "gemma_mlp": {"mlp_class_name": "LLaMAMLP"},
        "rmsnorm_unit_offset": {"name": name.replace("Gemma", "Gxmma")},
        "attention_scores_scalar": {"attention_scores_scalar": None},
        "norm_1_2_off": {"norm_1": True, "norm_2": True},
        "attention_softcapping": {"attention_logit_softcapping": None},
        "final_softcapping": {"final_logit_softcapping": None},
        "rope_local_base": {"rope_local_base_freq": None, "rope_indices": None},
        "shared_attention_norm": {"shared_attention_norm": False},
        "layernorm_no_affine": {"name": name.replace("OLMo", "OLMx")},
        "lm_head_bias": {"lm_head_bias": False},
        "rope_condense_ratio": {"rope_condense_ratio": 1},
        "rope_interleave": {"rope_interleave": False},
    }
    if not d.get("shared_attention_norm"):
        edits["parallel_residual"] = {"parallel_residual": False}
        edits["non_parallel_residual"] = {"parallel_residual": True}
    return edits


# Removing these leaves the math unchanged by construction (reported, not flagged).
EXPECTED_INSENSITIVE = {
    # missing LayerNorm weight/bias load as ones/zeros: the same as no affine at all; the feature
    # shows in the state dict's keys instead.
    "layernorm_no_affine",
}


def make_case(case: dict, out_dir: Path, litgpt_version: str) -> dict:
    import torch
    import litgpt.config
    import litgpt.lora
    import litgpt.model
    from litgpt.utils import chunked_cross_entropy, save_config

    name = case["case"]
    litgpt_name = case["litgpt_name"]
    if litgpt_name not in litgpt.config.name_to_config:
        raise InputError(f"case {name}: {litgpt_name!r} is not a LitGPT config")
    lora = case.get("lora") or {}
    unknown = set(lora) - set(LORA_FIELDS)
    if unknown:
        raise InputError(f"case {name}: unknown lora fields {sorted(unknown)}")
    overrides = case.get("overrides")

    d = shrink_config(litgpt.config.name_to_config[litgpt_name], overrides)
    base_cfg = litgpt.config.Config(**copy.deepcopy(d))
    lora_cfg = litgpt.lora.Config(**copy.deepcopy(d), **lora)
    features = config_features(lora_cfg)
    traits = config_traits(lora_cfg)
    if features != case.get("features") or traits != case.get("traits", traits):
        raise InputError(
            f"case {name}: cases.json says features {case.get('features')}, the config has {features}"
            " (run write-cases)"
        )

    seed = case_seed(name)
    torch.manual_seed(seed)
    model = litgpt.lora.GPT(lora_cfg)
    init_parameters(model, seed)
    model.eval()
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}

    T = min(lora_cfg.block_size, MAX_T)
    gen = torch.Generator().manual_seed(seed ^ 0x5EED)
    tokens = torch.randint(0, lora_cfg.vocab_size, (BATCH, T), generator=gen, dtype=torch.int64)

    with torch.no_grad():
        logits = model(tokens)
    loss = float(chunked_cross_entropy(logits[..., :-1, :], tokens[..., 1:]).item())

    # Legacy layout, verified through LitGPT's own legacy-key conversion.
    legacy = legacy_state_dict(sd, lora_cfg)
    fresh = litgpt.lora.GPT(lora_cfg)
    # LitGPT converts attn.attn.linear.{weight,bias} but not attn.attn.lora_A/B (names only).
    fresh.load_state_dict(
        {k.replace(".attn.attn.lora_", ".attn.qkv.lora_"): v for k, v in legacy.items()}, strict=True
    )
    fresh.eval()
    with torch.no_grad():
        legacy_logits = fresh(tokens)
    legacy_diff = max_abs_diff(legacy_logits, logits)
    if not torch.equal(legacy_logits, logits):
        raise CheckFailed(f"case {name}: legacy layout round trip differs by {legacy_diff:.3g}")

    # Base model: same base weights, no adapters; equals the LoRA model with zero lora_B.
    base_sd = base_state_dict(sd)
    base = litgpt.model.GPT(base_cfg)
    base.load_state_dict(base_sd, strict=True)
    base.eval()
    with torch.no_grad():
        base_logits = base(tokens)
    zero_b = litgpt.lora.GPT(lora_cfg)
    zero_b.load_state_dict({k: (torch.zeros_like(v) if k.endswith("lora_B") else v) for k, v in sd.items()})
    zero_b.eval()
    with torch.no_grad():
        zero_b_logits = zero_b(tokens)
    base_diff = max_abs_diff(base_logits, zero_b_logits)
    if base_diff > BASE_ATOL:
        raise CheckFailed(f"case {name}: base model vs LoRA model with zero lora_B differ by {base_diff:.3g}")

    # Merged.
    merged_model = litgpt.lora.GPT(lora_cfg)
    merged_model.load_state_dict(sd, strict=True)
    merged_model.eval()
    litgpt.lora.merge_lora_weights(merged_model)
    with torch.no_grad():
        merged_logits = merged_model(tokens)
    merged_diff = max_abs_diff(merged_logits, logits)
    if merged_diff > MERGE_ATOL:
        raise CheckFailed(f"case {name}: merged logits differ from LoRA logits by {merged_diff:.3g}")
    merged_sd = {
        k.replace("linear.", ""): v.detach().clone()
        for k, v in merged_model.state_dict().items()
        if "lora_" not in k
    }
    check_base = litgpt.model.GPT(base_cfg)
    check_base.load_state_dict(merged_sd, strict=True)

    # Sensitivity: how much the logits move when a feature is switched off.
    sensitivity = {}
    edits = _sensitivity_edits(d)
    for feature in features:
        edit = edits.get(feature)
        if edit is None:
            continue
        alt = copy.deepcopy(d)
        alt.update(edit)
        alt_cfg = litgpt.lora.Config(**alt, **lora)
        torch.manual_seed(0)
        alt_model = litgpt.lora.GPT(alt_cfg)
        result = alt_model.load_state_dict(sd, strict=False)
        bad_missing = [k for k in result.missing_keys if not _is_norm_key(alt_model, k)]
        if bad_missing:
            raise RuntimeError(f"case {name}: sensitivity edit {feature} misses {bad_missing}")
        alt_model.eval()
        with torch.no_grad():
            alt_logits = alt_model(tokens)
        sensitivity[feature] = max_abs_diff(alt_logits, logits)

    # Write.
    case_dir = out_dir / name
    case_dir.mkdir(parents=True, exist_ok=True)
    save_config(base_cfg, case_dir)
    torch.save(sd, case_dir / "lit_model.pth")
    torch.save(legacy, case_dir / "lit_model_legacy.pth")
    torch.save(base_sd, case_dir / "base_model.pth")
    torch.save(merged_sd, case_dir / "merged_model.pth")
    write_raw(case_dir / "tokens.bin", tokens, "<i8")
    write_raw(case_dir / "logits.bin", logits, "<f4")
    write_raw(case_dir / "merged_logits.bin", merged_logits, "<f4")
    write_raw(case_dir / "base_logits.bin", base_logits, "<f4")

    logits_shape = list(logits.shape)
    raw_file = lambda dtype, shape, what: {  # noqa: E731
        "dtype": dtype,
        "byte_order": "little",
        "order": "row-major",
        "shape": shape,
        "what": what,
    }
    meta = {
        "case": name,
        "litgpt_name": litgpt_name,
        "litgpt_version": litgpt_version,
        "torch_version": torch.__version__.split("+")[0],
        "synthetic": bool(overrides),
        "overrides": overrides,
        "config": _jsonable(dataclasses.asdict(lora_cfg)),
        "derived": {
            "rope_n_elem": lora_cfg.rope_n_elem,
            "q_per_kv": lora_cfg.n_head // lora_cfg.n_query_groups,
            "qkv_rows": (lora_cfg.n_head + 2 * lora_cfg.n_query_groups) * lora_cfg.head_size,
            "lora_scaling": (lora_cfg.lora_alpha / lora_cfg.lora_r) if lora_cfg.lora_r else None,
        },
        "lora": {k: getattr(lora_cfg, k) for k in LORA_FIELDS},
        "features": features,
        "traits": traits,
        "seed": seed,
        "tokens_shape": list(tokens.shape),
        "logits_shape": logits_shape,
        "loss": loss,
        "loss_function": (
            "litgpt.utils.chunked_cross_entropy(logits[:, :-1, :], tokens[:, 1:]) with its defaults "
            "(chunk_size=128, ignore_index=-100): mean cross entropy over the B*(T-1) targets, "
            "softmax over all padded_vocab_size logits"
        ),
        "files": {
            "model_config.yaml": "litgpt.utils.save_config(litgpt.config.Config): base fields only, no lora_*",
            "lit_model.pth": "litgpt.lora.GPT state dict, current layout (attn.qkv)",
            "lit_model_legacy.pth": "same values, legacy layout (attn.attn, rows interleaved per query group)",
            "base_model.pth": "litgpt.model.GPT state dict (no adapters)",
            "merged_model.pth": "after merge_lora_weights, keys as litgpt merge_lora writes them",
            "tokens.bin": raw_file("int64", list(tokens.shape), "input token ids"),
            "logits.bin": raw_file("float32", logits_shape, "litgpt.lora.GPT logits (eval)"),
            "merged_logits.bin": raw_file("float32", logits_shape, "logits after merge_lora_weights"),
            "base_logits.bin": raw_file("float32", logits_shape, "litgpt.model.GPT logits on base_model.pth"),
        },
        "checks": {
            "merged_vs_lora_max_abs_diff": merged_diff,
            "legacy_vs_current_max_abs_diff": legacy_diff,
            "base_vs_zero_lora_B_max_abs_diff": base_diff,
            "base_vs_lora_max_abs_diff": max_abs_diff(base_logits, logits),
        },
        "sensitivity": sensitivity,
        "state_dict_shapes": {
            "lit_model.pth": {k: list(v.shape) for k, v in sd.items()},
            "base_model.pth": {k: list(v.shape) for k, v in base_sd.items()},
        },
        "init": " ".join(init_parameters.__doc__.split("\n\n", 1)[1].split()),
    }
    (case_dir / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return meta


def _is_norm_key(model, key: str) -> bool:
    import torch.nn as nn
    from litgpt.model import RMSNorm

    owner_name = key.rpartition(".")[0]
    owner = dict(model.named_modules()).get(owner_name)
    return isinstance(owner, (nn.LayerNorm, RMSNorm))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def litgpt_version_or_fail() -> str:
    import importlib.metadata

    try:
        version = importlib.metadata.version("litgpt")
    except importlib.metadata.PackageNotFoundError:
        raise InputError("litgpt is not installed in this Python (use the project's .venv/bin/python)")
    if version != PINNED_LITGPT and os.environ.get("LITGPT_REFERENCE_ANY_VERSION") != "1":
        raise InputError(
            f"litgpt is {version}, the reference data is pinned to {PINNED_LITGPT}"
            " (LITGPT_REFERENCE_ANY_VERSION=1 to use it anyway)"
        )
    return version


def cmd_make(args) -> int:
    cases = load_cases()
    by_name = {c["case"]: c for c in cases}
    wanted = args.case or [c["case"] for c in cases]
    missing = [n for n in wanted if n not in by_name]
    if missing:
        raise InputError(f"unknown case {missing[0]!r} (see the 'cases' subcommand)")
    version = litgpt_version_or_fail()
    t0 = time.perf_counter()
    setup_torch()
    import litgpt.lora  # noqa: F401  (the import dominates the start-up time)

    t_import = time.perf_counter() - t0
    out_dir = Path(args.out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create {out_dir}: {e.strerror}")
    weak = []
    for n in wanted:
        t = time.perf_counter()
        meta = make_case(by_name[n], out_dir, version)
        for feature, diff in meta["sensitivity"].items():
            if diff < SENSITIVITY_MIN and feature not in EXPECTED_INSENSITIVE:
                weak.append(f"{n}:{feature}={diff:.2g}")
        print(
            f"{PROG}: {n}: loss {meta['loss']:.4f}, merged diff {meta['checks']['merged_vs_lora_max_abs_diff']:.2g},"
            f" {time.perf_counter() - t:.2f}s",
            file=sys.stderr,
        )
    if weak:
        print(f"{PROG}: note: features that barely move the logits: {', '.join(weak)}", file=sys.stderr)
    total = time.perf_counter() - t0
    print(
        f"{PROG}: made {len(wanted)} case(s) in {out_dir} in {total:.1f}s ({t_import:.1f}s of it importing torch+litgpt)",
        file=sys.stderr,
    )
    return 0


# --------------------------------------------------------------------------------------------
# check-save
# --------------------------------------------------------------------------------------------


def _load_state_dict_file(path: Path, what: str) -> dict:
    import torch

    if not path.is_file():
        raise InputError(f"{what} {path}: no such file")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 (any load failure is bad input)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{what} {path}: torch.load(weights_only=True) failed: {first}")
    if isinstance(obj, dict) and set(obj) == {"model"} and isinstance(obj["model"], dict):
        obj = obj["model"]  # LitGPT's lit_model.pth.lora form
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise InputError(f"{what} {path}: not a state dict (a dict of name -> tensor)")
    return obj


def _case_config(case_dir: Path):
    import litgpt.config
    import litgpt.lora

    meta_path = case_dir / "meta.json"
    cfg_path = case_dir / "model_config.yaml"
    for p in (meta_path, cfg_path, case_dir / "lit_model.pth", case_dir / "tokens.bin"):
        if not p.is_file():
            raise InputError(f"{case_dir} is not a case directory: {p.name} is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        lora = {k: meta["lora"][k] for k in LORA_FIELDS}
        tokens_shape = [int(x) for x in meta["tokens_shape"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{meta_path}: unreadable or incomplete ({type(e).__name__}: {e})")
    try:
        base_cfg = litgpt.config.Config.from_file(cfg_path)
        lora_cfg = litgpt.lora.Config.from_file(cfg_path, **lora)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{cfg_path}: not a LitGPT config ({type(e).__name__}: {e})")
    return meta, base_cfg, lora_cfg, tokens_shape


def _strict_logits(model, state_dict, tokens, what, label, checks, report):
    """Loads `state_dict` into `model` strictly; its logits go to checks[what], a load error
    (printed after `label`) to report[what]."""
    import torch

    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        message = " ".join(str(e).split())
        report[what] = {"ok": False, "load_error": message}
        print(f"{label}: {message}", file=sys.stderr)
        return
    model.eval()
    with torch.no_grad():
        checks[what] = model(tokens)


def check_save(case_dir: Path, lora_file, merged_file, expect_file, atol: float) -> dict:
    """One check-save job; returns the report (see the module docstring). InputError on bad input."""
    import torch
    import litgpt.lora
    import litgpt.model

    if lora_file is None and merged_file is None:
        raise InputError("check-save needs --lora FILE and/or --merged FILE")
    meta, base_cfg, lora_cfg, tokens_shape = _case_config(case_dir)
    tokens = read_raw(case_dir / "tokens.bin", "<i8", tokens_shape)
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= lora_cfg.padded_vocab_size):
        raise InputError(f"{case_dir / 'tokens.bin'}: token ids outside [0, {lora_cfg.padded_vocab_size})")
    logits_shape = [tokens_shape[0], tokens_shape[1], lora_cfg.padded_vocab_size]
    expect = read_raw(Path(expect_file), "<f4", logits_shape)

    checks = {}
    report = {}
    if lora_file is not None:
        torch.manual_seed(0)
        model = litgpt.lora.GPT(lora_cfg)
        model_lora_keys = {k for k in model.state_dict() if "lora_" in k}
        base = _load_state_dict_file(case_dir / "lit_model.pth", "base checkpoint")
        base = {k: v for k, v in base.items() if "lora_" not in k}
        adapters = _load_state_dict_file(Path(lora_file), "--lora")
        missing = sorted(model_lora_keys - set(adapters))
        unexpected = sorted(set(adapters) - model_lora_keys)
        if missing or unexpected:
            report["lora"] = {"ok": False, "missing": missing, "unexpected": unexpected}
            for k in missing:
                print(f"missing: {k}", file=sys.stderr)
            for k in unexpected:
                print(f"unexpected: {k}", file=sys.stderr)
        else:
            _strict_logits(model, {**base, **adapters}, tokens, "lora", "load error", checks, report)
    if merged_file is not None:
        torch.manual_seed(0)
        model = litgpt.model.GPT(base_cfg)
        merged = _load_state_dict_file(Path(merged_file), "--merged")
        _strict_logits(model, merged, tokens, "merged", "load error (merged)", checks, report)

    for what, logits in checks.items():
        diff = max_abs_diff(logits, expect)
        report[what] = {"max_abs_diff": diff, "ok": bool(diff <= atol)}
    result = {"ok": all(r["ok"] for r in report.values()), "atol": atol, "checks": report}
    diffs = [r["max_abs_diff"] for r in report.values() if "max_abs_diff" in r]
    if len(diffs) == len(report):  # absent when a file did not even load
        result["max_abs_diff"] = max(diffs)
    return result


def cmd_check_save(args) -> int:
    if args.lora is None and args.merged is None:
        raise InputError("check-save needs --lora FILE and/or --merged FILE")
    litgpt_version_or_fail()
    setup_torch()
    result = check_save(Path(args.case_dir), args.lora, args.merged, args.expect_logits, args.atol)
    print(json.dumps(result, sort_keys=True))
    return 0 if result["ok"] else 1


def cmd_check_saves(args) -> int:
    """check-save for many jobs in one process (the torch+litgpt import costs ~4 s a process)."""
    try:
        jobs = json.loads(Path(args.jobs).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read {args.jobs}: {e.strerror}")
    except json.JSONDecodeError as e:
        raise InputError(f"{args.jobs} is not JSON: {e}")
    allowed = {"case_dir", "lora", "merged", "expect_logits", "atol"}
    if not isinstance(jobs, list) or not all(
        isinstance(j, dict) and "case_dir" in j and "expect_logits" in j and set(j) <= allowed for j in jobs
    ):
        raise InputError(
            f"{args.jobs}: expected a list of {{case_dir, expect_logits, lora?, merged?, atol?}} objects"
        )
    litgpt_version_or_fail()
    setup_torch()
    all_ok = True
    worst = 0.0
    for job in jobs:
        result = check_save(
            Path(job["case_dir"]), job.get("lora"), job.get("merged"), job["expect_logits"], float(job.get("atol", 1e-5))
        )
        result["case_dir"] = job["case_dir"]
        print(json.dumps(result, sort_keys=True))
        all_ok = all_ok and result["ok"]
        worst = max(worst, result.get("max_abs_diff", math.inf))
    summary = {"jobs": len(jobs), "ok": all_ok}
    if math.isfinite(worst):
        summary["max_abs_diff"] = worst
    print(json.dumps(summary, sort_keys=True))
    return 0 if all_ok else 1


# --------------------------------------------------------------------------------------------
# cases, write-cases, census
# --------------------------------------------------------------------------------------------


def build_case_list() -> list:
    import litgpt.config
    import litgpt.lora

    def entry(case, litgpt_name, targets, overrides=None):
        lora = lora_settings(targets)
        d = shrink_config(litgpt.config.name_to_config[litgpt_name], overrides)
        cfg = litgpt.lora.Config(**d, **lora)
        item = {"case": case, "litgpt_name": litgpt_name}
        if overrides:
            item["overrides"] = overrides
            item["synthetic"] = True
        item.update(lora=lora, features=config_features(cfg), traits=config_traits(cfg))
        return item

    cases = []
    table = dict(CASE_TABLE)
    for case, litgpt_name in CASE_TABLE:
        cases.append(entry(case, litgpt_name, TARGETS))
    for family in TARGET_VARIANT_FAMILIES:
        for suffix, targets in TARGET_VARIANTS:
            cases.append(entry(f"{family}-{suffix}", table[family], targets))
    for case, litgpt_name, overrides in SYNTHETIC_CASES:
        cases.append(entry(case, litgpt_name, TARGETS, overrides))
    names = [c["case"] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return cases


def catalog_groups():
    """[(feature tuple, traits tuple, [config names])] over LitGPT's catalog, largest first."""
    import litgpt.config

    groups = {}
    for raw in litgpt.config.configs:
        c = litgpt.config.Config(**copy.deepcopy(raw))
        key = (tuple(config_features(c)), tuple(config_traits(c)))
        groups.setdefault(key, []).append(c.name)
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0]))


def cmd_write_cases(args) -> int:
    version = litgpt_version_or_fail()
    cases = build_case_list()
    covered = {(tuple(c["features"]), tuple(c["traits"])) for c in cases if not c.get("synthetic")}
    uncovered = [names[0] for key, names in catalog_groups() if key not in covered]
    if uncovered:
        raise InputError(f"feature sets without a case (add to CASE_TABLE): {', '.join(uncovered)}")
    doc = {
        "generated_by": "tests/litgpt/litgpt_reference.py write-cases",
        "litgpt_version": version,
        "shrink_rule": SHRINK_RULE.strip().splitlines(),
        "cases": cases,
    }
    CASES_FILE.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"{PROG}: wrote {len(cases)} cases to {CASES_FILE}", file=sys.stderr)
    return 0


def cmd_cases(args) -> int:
    print(json.dumps([c["case"] for c in load_cases()]))
    return 0


def cmd_census(args) -> int:
    version = litgpt_version_or_fail()
    import litgpt.config

    cases = load_cases()
    n_configs = len(litgpt.config.configs)
    resolved = [litgpt.config.Config(**copy.deepcopy(raw)) for raw in litgpt.config.configs]
    feats = [set(config_features(c)) for c in resolved]
    traits = [set(config_traits(c)) for c in resolved]
    groups = catalog_groups()

    def cases_with(key, field):
        return [c["case"] for c in cases if key in c.get(field, [])]

    def names_list(names, limit=3):
        shown = ", ".join(names[:limit])
        return shown + (f" (+{len(names) - limit})" if len(names) > limit else "")

    out = []
    out.append(f"# LitGPT {version} feature census")
    out.append("")
    out.append(
        "Generated by `.venv/bin/python tests/litgpt/litgpt_reference.py census` from the installed"
        f" LitGPT ({n_configs} configs in `litgpt.config.configs`); do not edit by hand. A feature is"
        " counted from the resolved `Config` (see `config_features` in the script for each test)."
        " Cases are those of `tests/litgpt/cases.json` (their reference data comes from `make`);"
        " a case name in italics is a synthetic one (a real config with an override)."
    )
    out.append("")
    out.append("| feature | configs | example configs | cases |")
    out.append("| --- | ---: | --- | --- |")
    synthetic = {c["case"] for c in cases if c.get("synthetic")}

    def case_cell(names):
        if not names:
            return "none"
        real = [n for n in names if n not in synthetic]
        fake = [f"*{n}*" for n in names if n in synthetic]
        shown = real[:4] + fake
        more = len(real) - 4
        return ", ".join(shown) + (f" (+{more})" if more > 0 else "")

    for f in FEATURES:
        users = [c.name for c, fs in zip(resolved, feats) if f in fs]
        out.append(f"| `{f}` | {len(users)} | {names_list(users) if users else '-'} | {case_cell(cases_with(f, 'features'))} |")
    out.append("")
    out.append("Traits (descriptive, outside the C++ feature vocabulary):")
    out.append("")
    out.append("| trait | configs | cases |")
    out.append("| --- | ---: | --- |")
    for t in TRAITS:
        n = sum(1 for ts in traits if t in ts)
        out.append(f"| `{t}` | {n} | {case_cell(cases_with(t, 'traits'))} |")
    out.append("")
    out.append(f"## Feature sets ({len(groups)} distinct over {n_configs} configs)")
    out.append("")
    out.append("| # | configs | features | case | members |")
    out.append("| ---: | ---: | --- | --- | --- |")
    case_by_key = {}
    for c in cases:
        if not c.get("synthetic"):
            case_by_key.setdefault((tuple(c["features"]), tuple(c["traits"])), c["case"])
    for i, (key, names) in enumerate(groups, 1):
        feature_cell = ", ".join(key[0]) + (f"; traits: {', '.join(key[1])}" if key[1] else "")
        out.append(
            f"| {i} | {len(names)} | {feature_cell} | {case_by_key.get(key, 'NONE')} | {names_list(names, 4)} |"
        )
    out.append("")
    unused = [f for f in FEATURES if not any(f in fs for fs in feats)]
    out.append("## Notes")
    out.append("")
    out.append(
        f"- Used by no {version} config: {', '.join(f'`{f}`' for f in unused) or 'none'}. `rope_yarn` and"
        " `rope_interleave` are covered by synthetic cases (`litgpt.lora.GPT` runs them). The others"
        " are not: `litgpt.lora.GPT` always builds the standard `CausalSelfAttention` (so"
        " `latent_attention` is silently ignored), `litgpt.lora.Block` replaces every layer's MLP"
        " with `config.mlp_class` (so `first_k_dense_replace` is ignored), and `litgpt.lora.LLaMAMoE`"
        " builds neither `shared_experts` nor the `GroupedTopkRouter` while inheriting the forward"
        " that uses them."
    )
    same_scalar = [
        c.name for c in resolved if c.attention_scores_scalar is not None and c.attention_scores_scalar == c.head_size
    ]
    out.append(
        "- `attention_scores_scalar` counts configs whose scalar differs from head_size. It is set but"
        f" equal to head_size (no effect) in {len(same_scalar)} more: {', '.join(same_scalar)};"
        " shrinking keeps it equal there."
    )
    window_noop = [
        f"{c.name} ({c.sliding_window_size} >= {c.block_size})"
        for c in resolved
        if c.sliding_window_size is not None and c.sliding_window_size >= c.block_size
    ]
    out.append(
        "- `sliding_window` counts every config with `sliding_window_size` set and some layer using it;"
        f" where the window is not smaller than block_size it never acts at full size: {', '.join(window_noop) or 'none'}"
        " (once shrunk the window is 4 of 16 tokens)."
    )
    out.append(
        "- `attn_bias` counts configs where the fused qkv has a bias but the other linears do not"
        " (attn_bias true, bias false); with bias true attn_bias changes nothing."
    )
    out.append("")
    print("\n".join(out))
    return 0


# --------------------------------------------------------------------------------------------


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        fail(message)


def main(argv=None) -> int:
    parser = OneLineParser(prog=PROG, description="LitGPT reference data for metaguard's tests.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    sub.add_parser("cases", help="print the case names (JSON list)")
    p = sub.add_parser("make", help="write reference data for cases")
    p.add_argument("out_dir")
    p.add_argument("--case", action="append", help="a case name (repeatable); default: all")
    p = sub.add_parser("check-save", help="check a saved adapter / merged file against expected logits")
    p.add_argument("case_dir")
    p.add_argument("--lora", help="adapter file: lora_A/lora_B tensors only")
    p.add_argument("--merged", help="merged checkpoint for litgpt.model.GPT")
    p.add_argument("--expect-logits", required=True, help="float32 raw logits (2, T, padded_vocab_size)")
    p.add_argument("--atol", type=float, default=1e-5)
    p = sub.add_parser("check-saves", help="check-save for a JSON list of jobs, in one process")
    p.add_argument("jobs", help="JSON file: [{case_dir, expect_logits, lora?, merged?, atol?}, ...]")
    sub.add_parser("census", help="markdown feature census of LitGPT's configs")
    sub.add_parser("write-cases", help="regenerate tests/litgpt/cases.json")
    args = parser.parse_args(argv)
    commands = {
        "cases": cmd_cases,
        "make": cmd_make,
        "check-save": cmd_check_save,
        "check-saves": cmd_check_saves,
        "census": cmd_census,
        "write-cases": cmd_write_cases,
    }
    try:
        return commands[args.command](args)
    except InputError as e:
        fail(str(e), 2)
    except CheckFailed as e:
        fail(str(e), 1)


if __name__ == "__main__":
    sys.exit(main())
