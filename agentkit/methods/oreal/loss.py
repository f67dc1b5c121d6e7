"""OREAL's loss terms, pure functions on per-token tensors (B, T)."""

from __future__ import annotations

import torch


def positive_loss(logprobs: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Behaviour cloning on correct samples: weighted token NLL summed over `mask` / its token count."""
    mask = mask.to(logprobs.dtype)
    return -(weights * logprobs * mask).sum() / mask.sum().clamp(min=1)


def negative_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """Policy gradient on incorrect samples: -(ratio * advantage) per token, ratio = pi / pi_sampling,
    weighted, summed over `mask` and divided by its token count. `advantages` is one value per row (B,)."""
    mask = mask.to(logprobs.dtype)
    ratio = torch.exp(logprobs - old_logprobs.detach())
    return -(weights * ratio * advantages.unsqueeze(-1) * mask).sum() / mask.sum().clamp(min=1)


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean k3 estimate of KL(policy || reference) over the masked tokens."""
    from agentkit.training.policy_gradient import k3_kl, masked_sum_mean

    return masked_sum_mean(k3_kl(logprobs, ref_logprobs), mask)
