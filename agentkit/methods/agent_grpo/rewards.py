"""The outcome reward of an episode: the env's own (success or score), or a reward model's callable."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from agentkit.errors import AgentkitError
from agentkit.trajectory import Episode

EpisodeReward = Callable[[Episode], float]


def success_reward(episode: Episode) -> float:
    return float(episode.success and episode.error is None)


def score_reward(episode: Episode) -> float:
    return 0.0 if episode.error is not None else float(episode.score)


def outcome_function(name: str) -> EpisodeReward:
    """`success`, `score`, or `module:function` (a callable taking an Episode and returning a float)."""
    if name == "success":
        return success_reward
    if name == "score":
        return score_reward
    module, _, attribute = name.partition(":")
    try:
        function = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise AgentkitError(f"reward.outcome={name!r}: cannot import it ({exc})") from exc
    if not callable(function):
        raise AgentkitError(f"reward.outcome={name!r} is not callable")
    return function
