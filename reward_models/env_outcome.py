"""The environment-outcome reward: 1.0 for a won episode, else the share of the score it reached.

It reads what the rollout already recorded (an Episode's `success` and `score`), so agent recipes score
episodes without re-running the env. `env_outcome_reward` takes TRL's `reward_funcs` form, the outcome
arriving as data set columns (`agentkit.trajectory.to_dataset` writes `success` and `score`);
`episode_reward` scores one Episode directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentkit.trajectory import Episode


def outcome_reward(success: bool, score: float, max_score: float | None = None) -> float:
    """1.0 on success; else `score / max_score`, or `score` itself when it is already a share in [0, 1]."""
    if success:
        return 1.0
    if max_score is not None:
        if max_score <= 0:
            raise ValueError(f"max_score must be > 0, got {max_score!r}")
        share = score / max_score
    else:
        share = score
    if not 0.0 <= share <= 1.0:
        raise ValueError(
            f"score {score!r} is not a share in [0, 1]; pass max_score (or set meta['max_score'] on the episode)"
        )
    return float(share)


def episode_reward(episode: Episode) -> float:
    """The outcome reward of one episode; an episode that ended in an env or backend error earns 0."""
    if episode.error is not None:
        return 0.0
    return outcome_reward(episode.success, episode.score, episode.meta.get("max_score"))


def env_outcome_reward(
    completions: Sequence[Any],
    success: Sequence[bool],
    score: Sequence[float] | None = None,
    max_score: Sequence[float | None] | None = None,
    **kwargs: Any,
) -> list[float]:
    """Outcome rewards from `success` / `score` (/ `max_score`) columns, one per completion."""
    columns = {"success": success, "score": score, "max_score": max_score}
    for name, column in columns.items():
        if column is not None and len(column) != len(completions):
            raise ValueError(f"env_outcome_reward: {len(completions)} completions but {len(column)} {name!r} values")
    return [
        outcome_reward(
            bool(success[i]), float(score[i]) if score is not None else 0.0, max_score[i] if max_score else None
        )
        for i in range(len(completions))
    ]
