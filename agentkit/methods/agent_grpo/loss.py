"""Agent GRPO's loss terms, pure functions on per-token tensors (B, T) aligned with `input_ids`."""

from __future__ import annotations

import torch

from agentkit.training.policy_gradient import k3_kl


def importance_ratio(logprobs: torch.Tensor, sampled_logprobs: torch.Tensor) -> torch.Tensor:
    """pi_theta(token) / pi_sampler(token) per token, the sampler's log-probs being the stored ones."""
    return torch.exp(logprobs - sampled_logprobs.detach())


def clipped_surrogate(
    logprobs: torch.Tensor, sampled_logprobs: torch.Tensor, advantages: torch.Tensor, clip_epsilon: float
) -> torch.Tensor:
    """PPO's per-token loss -min(r A, clip(r, 1 - eps, 1 + eps) A); `advantages` has one value per row (B,)."""
    ratio = importance_ratio(logprobs, sampled_logprobs)
    advantage = advantages.unsqueeze(-1)
    clipped = ratio.clamp(1 - clip_epsilon, 1 + clip_epsilon)
    return -torch.minimum(ratio * advantage, clipped * advantage)


def policy_loss(
    logprobs: torch.Tensor,
    sampled_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_epsilon: float,
    kl_coef: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-token loss, per-token k3 KL): the clipped surrogate plus `kl_coef` times the KL to the reference,
    zero outside `mask` (the agent's generated tokens)."""
    mask = mask.to(logprobs.dtype)
    kl = k3_kl(logprobs, ref_logprobs) if ref_logprobs is not None else torch.zeros_like(logprobs)
    per_token = clipped_surrogate(logprobs, sampled_logprobs, advantages, clip_epsilon) + kl_coef * kl
    return per_token * mask, kl * mask
