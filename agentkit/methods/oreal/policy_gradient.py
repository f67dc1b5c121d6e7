"""OREAL's policy-gradient plumbing: sample a group of completions per prompt, verify them, turn group
rewards into advantages, and score completions token by token under the policy and under the reference
(the base model with the LoRA adapter switched off): the shared pieces live in
`agentkit.training.policy_gradient`. (URPO's GRPO runs inside TRL's trainer.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from agentkit.rollout.backend import Backend, Messages, prompt_token_ids
from agentkit.rollout.sampling import Completion, SamplingParams
from agentkit.training.policy_gradient import CompletionBatch, completion_batch

RewardFunc = Callable[..., list[float]]


@dataclass
class SampledGroup:
    """K completions of one prompt, verified. A completion the backend failed on scores 0 and is unusable."""

    prompt: Messages
    answer: str
    completions: list[Completion]
    rewards: list[float]

    @property
    def pass_rate(self) -> float:
        return sum(r > 0 for r in self.rewards) / len(self.rewards)

    def usable(self, index: int) -> bool:
        return self.completions[index].error is None and bool(self.completions[index].token_ids)


def sample_groups(
    backend: Backend,
    prompts: Sequence[Messages],
    answers: Sequence[str],
    params: SamplingParams,
    reward_fn: RewardFunc,
) -> list[SampledGroup]:
    """`params.n` completions per prompt from `backend`, each scored by `reward_fn(completions, answer=...)`
    (the signature of `agentkit.reward_models.math_reward`)."""
    if len(prompts) != len(answers):
        raise ValueError(f"sample_groups: {len(prompts)} prompts but {len(answers)} answers")
    groups = []
    generated = backend.generate(list(prompts), params)
    for prompt, answer, completions in zip(prompts, answers, generated, strict=True):
        texts = [c.text if c.error is None else "" for c in completions]
        rewards = reward_fn(texts, answer=[answer] * len(texts))
        rewards = [r if c.error is None else 0.0 for r, c in zip(rewards, completions, strict=True)]
        groups.append(SampledGroup(list(prompt), answer, list(completions), [float(r) for r in rewards]))
    return groups


def rloo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """REINFORCE leave-one-out: each sample's reward minus the mean of the other K-1 in its group.

    `rewards` is (..., K) with K >= 2; an all-equal group gets zero advantage.
    """
    k = rewards.shape[-1]
    if k < 2:
        raise ValueError(f"rloo_advantages needs at least 2 samples per group, got {k}")
    return rewards - (rewards.sum(-1, keepdim=True) - rewards) / (k - 1)


def encode_groups(tokenizer, groups: Sequence[SampledGroup], picks: Sequence[tuple[int, int]]) -> CompletionBatch:
    """The batch of the picked (group index, completion index) pairs, prompts rendered as the backend does."""
    prompts = {g: prompt_token_ids(tokenizer, groups[g].prompt) for g in {g for g, _ in picks}}
    replies = [groups[g].completions[i].token_ids for g, i in picks]
    return completion_batch([prompts[g] for g, _ in picks], replies, tokenizer.pad_token_id)
