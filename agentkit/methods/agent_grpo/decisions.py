"""The training samples of agent GRPO: each decision's prompt and exactly the token ids the sampler generated.

The prompt is rendered from the episode's turns by the same function the rollout engine used
(`PromptFormat.messages_for` through `prompt_token_ids`), and the reply is never re-tokenized: its stored
`token_ids` and `logprobs` are what the loss reads, so the importance ratio compares like with like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from agentkit.prompts import PromptFormat
from agentkit.rollout.backend import prompt_token_ids
from agentkit.training.policy_gradient import CompletionBatch, completion_batch
from agentkit.trajectory import Episode


@dataclass(frozen=True)
class Decision:
    prompt_ids: list[int]
    token_ids: list[int]
    sampled_logprobs: list[float]
    advantage: float


def episode_decisions(
    tokenizer, episodes: Sequence[Episode], advantages: Sequence[Sequence[float]], prompt_format: PromptFormat
) -> list[Decision]:
    """Every generated reply of `episodes` with its step's advantage; replies without stored ids (a backend
    failure) are skipped."""
    decisions = []
    for episode, steps in zip(episodes, advantages, strict=True):
        replies = list(prompt_format.decisions(episode.turns))
        if len(replies) != len(steps):
            raise ValueError(f"episode {episode.task_id}: {len(replies)} replies but {len(steps)} advantages")
        for (prompt, turn, _), advantage in zip(replies, steps, strict=True):
            if not turn.token_ids or turn.logprobs is None or len(turn.logprobs) != len(turn.token_ids):
                continue
            ids = prompt_token_ids(tokenizer, prompt)
            decisions.append(Decision(ids, list(turn.token_ids), list(turn.logprobs), float(advantage)))
    return decisions


def decision_batch(decisions: Sequence[Decision], pad_id: int) -> tuple[CompletionBatch, torch.Tensor, torch.Tensor]:
    """(batch, the sampler's log-probs aligned with `input_ids` (B, T), the advantages (B,))."""
    batch = completion_batch([d.prompt_ids for d in decisions], [d.token_ids for d in decisions], pad_id)
    sampled = torch.zeros(batch.input_ids.shape, dtype=torch.float32)
    for row, decision in enumerate(decisions):
        start = len(decision.prompt_ids)
        sampled[row, start : start + len(decision.token_ids)] = torch.tensor(decision.sampled_logprobs)
    return batch, sampled, torch.tensor([d.advantage for d in decisions], dtype=torch.float32)
