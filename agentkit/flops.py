"""FLOP counts of a decoder-only transformer's work and the machine's matmul peak, so that speed figures read
as a share of what the hardware can do (model FLOPs utilisation, MFU).

Counts are of the work the model must do, from its config: a linear layer of n inputs and m outputs costs
2nm per token; causal attention over a sequence of n tokens costs 2 x heads x head_dim x n^2 per layer (the
useful half of QK^T and AV); the output layer costs 2 x vocab x hidden per position whose logits are needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def _head_dim(config: Any) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def layer_linear_params(config: Any) -> int:
    """Weights of one layer's matmuls (attention projections and the gated MLP), from a Llama-style config."""
    hidden, head_dim = config.hidden_size, _head_dim(config)
    q_and_o = 2 * hidden * config.num_attention_heads * head_dim
    k_and_v = 2 * hidden * config.num_key_value_heads * head_dim
    attention = q_and_o + k_and_v
    return attention + 3 * hidden * config.intermediate_size


def linear_flops(config: Any, tokens: int, layers: int | None = None) -> int:
    """The matmuls of `tokens` positions through the top `layers` (default all), without the output layer."""
    layers = config.num_hidden_layers if layers is None else layers
    return 2 * layers * layer_linear_params(config) * tokens


def attention_flops(config: Any, lengths: list[int], layers: int | None = None) -> int:
    """Causal attention of sequences of `lengths` tokens in the top `layers` (default all)."""
    layers = config.num_hidden_layers if layers is None else layers
    return 2 * layers * config.num_attention_heads * _head_dim(config) * sum(n * n for n in lengths)


def head_flops(config: Any, rows: int) -> int:
    """The output layer at `rows` positions."""
    return 2 * config.vocab_size * config.hidden_size * rows


def forward_flops(config: Any, lengths: list[int], logit_rows: int) -> int:
    """One forward pass over sequences of `lengths` tokens, with logits at `logit_rows` positions."""
    return linear_flops(config, sum(lengths)) + attention_flops(config, lengths) + head_flops(config, logit_rows)


def lora_step_flops(config: Any, lengths: list[int], trained_layers: int) -> int:
    """Forward + backward of a LoRA step with logits at every position. The backward computes activation
    gradients only, down to the lowest adapted layer: one matmul per linear layer (as many FLOPs as its
    forward) and two per attention product; no base-weight gradients, and LoRA's own products are
    negligible. With adapters on every layer this is 4N per token, where full fine-tuning costs 6N."""
    tokens = sum(lengths)
    backward = (
        linear_flops(config, tokens, trained_layers)
        + 2 * attention_flops(config, lengths, trained_layers)
        + head_flops(config, tokens)
    )
    return forward_flops(config, lengths, tokens) + backward


def decode_flops(config: Any, context: int) -> int:
    """One generated token of one sequence after `context` cached tokens: every matmul for one position, its
    attention over the cache, and one row of logits."""
    reading_cache = 2 * attention_flops(config, [1]) * context  # QK^T and AV over `context` keys, not causal-halved
    return linear_flops(config, 1) + reading_cache + head_flops(config, 1)


def best_seconds(work: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` timed calls of `work`, after one untimed warm-up call (first calls pick
    kernels and allocate): what the cores do when nothing else runs."""
    work()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def matmul_peak(dtype: str = "float32", size: int = 1024, repeats: int = 20) -> float:
    """FLOP/s of a large square matmul in `dtype` on this process's threads: the peak MFU is measured against."""
    import torch

    kind = getattr(torch, dtype)
    a, b = torch.randn(size, size, dtype=kind), torch.randn(size, size, dtype=kind)
    return 2 * size**3 / best_seconds(lambda: torch.mm(a, b), repeats)
