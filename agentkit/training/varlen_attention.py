"""Padding-free attention that is fast on CPU: one causal attention per packed sequence.

Padding-free SFT packs a batch into one row and marks the sequence starts (`position_ids` restarting at 0,
`cu_seq_lens_q/k`). Without flash-attention, transformers' sdpa path turns that into a block-diagonal mask
over the whole row and attends over all (sum of lengths)^2 pairs, most of them masked. Here each segment
attends only to itself with `is_causal=True` and no mask: sum of length^2 work, no T x T mask built.
A plain loop of sdpa calls, one per sequence, measured faster on CPU than gathering the sequences into one
padded (n, heads, longest, d) tensor (`bench/sft_padding.py` times both).

Batches that are not packed (a 2D padding mask, generation with a KV cache) go through transformers' sdpa
unchanged, so a model loaded with this attention still evaluates and generates normally.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

VARLEN_ATTENTION = "agentkit_varlen"


def _segment_bounds(
    cu_seq_lens: torch.Tensor | None, position_ids: torch.Tensor | None, batch: int
) -> list[int] | None:
    """Segment boundaries [0, ..., T] of a packed row, or None when the batch is not packed."""
    if cu_seq_lens is not None:
        return [int(x) for x in cu_seq_lens.tolist()]
    if position_ids is None or batch != 1 or position_ids.shape[-1] < 2:
        return None
    starts = (position_ids.reshape(-1) == 0).nonzero().flatten().tolist()
    if len(starts) < 2 or starts[0] != 0:
        return None
    return [*starts, position_ids.shape[-1]]


def varlen_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    cu_seq_lens_q: torch.Tensor | None = None,
    cu_seq_lens_k: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    sliding_window: int | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """An `AttentionInterface` function: one causal sdpa per segment of a packed row, transformers' sdpa
    for any other batch.

    query (1, heads, T, d), key/value (1, kv_heads, T, d) -> (1, T, heads, d), as transformers expects.
    """
    if sliding_window is not None:
        raise ValueError(
            f"{VARLEN_ATTENTION} attention has no sliding window (sliding_window={sliding_window})"
        )
    bounds = None
    if attention_mask is None and query.shape[2] == key.shape[2]:
        bounds = _segment_bounds(cu_seq_lens_q, position_ids, query.shape[0])
    if bounds is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    if cu_seq_lens_k is not None and not torch.equal(cu_seq_lens_k, cu_seq_lens_q):
        raise ValueError(
            "varlen attention needs cu_seq_lens_k == cu_seq_lens_q (self-attention over packed rows)"
        )
    if query.shape[0] != 1:
        raise ValueError(f"a packed batch is one row, got batch size {query.shape[0]} with cu_seq_lens")
    gqa = query.shape[1] != key.shape[1]
    dropout = dropout if module.training else 0.0
    outputs = [
        F.scaled_dot_product_attention(
            query[:, :, start:end],
            key[:, :, start:end],
            value[:, :, start:end],
            dropout_p=dropout,
            scale=scaling,
            is_causal=True,
            enable_gqa=gqa,
        )
        for start, end in zip(bounds[:-1], bounds[1:], strict=True)
        if end > start
    ]
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def varlen_attention_mask(
    q_length: int, kv_length: int, attention_mask: torch.Tensor | None = None, **kwargs: Any
) -> torch.Tensor | None:
    """An `AttentionMaskInterface` function: no mask for self-attention without padding (plain causal, or
    packed rows whose segments the attention finds itself), else transformers' sdpa mask."""
    if attention_mask is None and q_length == kv_length and not kwargs.get("q_offset"):
        return None
    return sdpa_mask(q_length=q_length, kv_length=kv_length, attention_mask=attention_mask, **kwargs)


def register_varlen_attention() -> str:
    """Register the attention and its mask with transformers (idempotent); returns the `attn_implementation`
    name to load a model with."""
    AttentionInterface.register(VARLEN_ATTENTION, varlen_attention_forward)
    AttentionMaskInterface.register(VARLEN_ATTENTION, varlen_attention_mask)
    return VARLEN_ATTENTION
