"""Policy-gradient pieces every RL method shares: group-relative advantages, prompt + completion batches built
from the exact token ids a sampler produced, per-token log-probs under the policy and under its reference
(the same PEFT model with the adapter disabled), the k3 KL estimator and masked means.

Shapes: a batch is right-padded `input_ids` (B, T) whose `completion_mask` marks the completion tokens;
per-token values (log-probs, KL, weights) are (B, T) aligned with `input_ids`, position t holding the
value for token t given tokens < t (position 0 holds 0 and is never a completion token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch


def group_advantages(rewards: torch.Tensor, eps: float = 1e-4, scale: bool = True) -> torch.Tensor:
    """GRPO's advantage: reward minus the group mean, divided by the group's std when `scale`."""
    centred = rewards - rewards.mean(-1, keepdim=True)
    return centred / (rewards.std(-1, keepdim=True) + eps) if scale else centred


@dataclass
class CompletionBatch:
    """Right-padded prompt + completion token ids; `completion_mask` is 1 on completion tokens."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    completion_mask: torch.Tensor

    def to(self, device: torch.device | str) -> CompletionBatch:
        tensors = (self.input_ids, self.attention_mask, self.completion_mask)
        return CompletionBatch(*(t.to(device) for t in tensors))


def completion_batch(
    prompt_ids: Sequence[Sequence[int]], completion_ids: Sequence[Sequence[int]], pad_id: int
) -> CompletionBatch:
    """Join each prompt with its completion (exactly the ids the sampler saw and produced) and pad right."""
    if len(prompt_ids) != len(completion_ids):
        raise ValueError(f"completion_batch: {len(prompt_ids)} prompts but {len(completion_ids)} completions")
    if any(not c for c in completion_ids):
        raise ValueError("completion_batch: every completion needs at least one token")
    width = max(len(p) + len(c) for p, c in zip(prompt_ids, completion_ids, strict=True))
    input_ids = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    completion = torch.zeros_like(input_ids)
    for row, (prompt, reply) in enumerate(zip(prompt_ids, completion_ids, strict=True)):
        end = len(prompt) + len(reply)
        input_ids[row, :end] = torch.tensor([*prompt, *reply])
        attention[row, :end] = 1
        completion[row, len(prompt) : end] = 1
    return CompletionBatch(input_ids, attention, completion)


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """log p(token t | tokens < t) from next-token `logits` (B, T, V), aligned with `input_ids` (B, T)."""
    return picked_logprobs(logits[:, :-1].float().log_softmax(-1), input_ids)


def picked_logprobs(next_log_probs: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """`token_logprobs` from the next-token log-probabilities (B, T - 1, V) a caller already holds."""
    picked = next_log_probs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return torch.nn.functional.pad(picked, (1, 0))


def completion_logprobs(model, batch: CompletionBatch, hidden_states: bool = False) -> Any:
    """Per-token log-probs of the batch under `model` (with gradients); with `hidden_states`, also the last
    layer's hidden states (B, T, H), whose position t - 1 is what predicted token t."""
    out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, output_hidden_states=hidden_states)
    logprobs = token_logprobs(out.logits, batch.input_ids)
    return (logprobs, out.hidden_states[-1]) if hidden_states else logprobs


@torch.no_grad()
def reference_logprobs(peft_model, batch: CompletionBatch) -> torch.Tensor:
    """Per-token log-probs under the reference policy: the same PEFT model with its LoRA adapter disabled."""
    if not hasattr(peft_model, "disable_adapter"):
        raise TypeError("reference_logprobs needs a PEFT model (the reference is its base, adapter off)")
    with peft_model.disable_adapter():
        return completion_logprobs(peft_model, batch)


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(policy || reference) per token: exp(d) - d - 1 with d = ref - policy.
    Non-negative, unbiased, and low-variance for samples drawn from the policy."""
    delta = ref_logprobs - logprobs
    return torch.exp(delta) - delta - 1


def masked_sum_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of `values` over the masked tokens divided by the number of masked tokens (0 when none)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)
