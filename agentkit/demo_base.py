"""The demo base: a tiny model that speaks an env's language but has never seen its expert.

Recipes train LoRA adapters, and an adapter on a random-init model has to learn the words, the reply
format and the strategy at once. The demo base is pretrained (every weight) on what any player sees:
the env's own text and transcripts of *random* play in the recipe's prompt format, so it replies with
well-formed commands copied from the admissible list but has no idea which one wins. What a recipe's
adapter adds on top is then the recipe's own, and the base is a fair baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agentkit.prompts import PromptFormat
from agentkit.training.warmup import WarmStartConfig


@dataclass
class DemoBaseConfig(WarmStartConfig):
    """How the demo base is pretrained (`steps` of `batch_size` sequences of at most `max_length`)."""

    steps: int = 400
    learning_rate: float = 2e-3
    episodes_per_task: int = 1
    max_length: int = 512

    def __post_init__(self) -> None:
        if self.episodes_per_task < 1:
            raise ValueError(f"episodes_per_task={self.episodes_per_task} must be >= 1")


def random_play_corpus(episodes: list, prompt_format: PromptFormat) -> tuple[list[str], list[list[dict]]]:
    """The env's observations (plain text) and every random decision as a chat in `prompt_format`."""
    from agentkit.training.data import decision_samples

    observations = sorted({turn.text for episode in episodes for turn in episode.turns if turn.role == "user"})
    chats = [sample for episode in episodes for sample in decision_samples(episode, prompt_format)]
    return observations, chats


def build_demo_base(
    env_factory: Any,
    tasks: list,
    prompt_format: PromptFormat,
    settings: DemoBaseConfig,
    *,
    name: str,
    cache_dir: str | Path,
    seed: int = 0,
    num_envs: int = 8,
    progress: bool = True,
) -> Path:
    """Random play on `tasks` (engine `Task`s), then a warm start on it; cached by the content it trains on.

    Random play has no thoughts, so the transcripts use `prompt_format` without them: behavior cloning and
    thought cloning of one config then start from the very same base.
    """
    from agentkit.policies import RandomPolicy
    from agentkit.rollout.engine import PolicyAgent, Task, rollout
    from agentkit.training.warmup import warm_start

    prompt_format = replace(prompt_format, thoughts=False)
    plays = [Task(t.task_id, t.seed + 7919 * k) for k in range(settings.episodes_per_task) for t in tasks]
    episodes, _ = rollout(
        env_factory,
        plays,
        PolicyAgent(RandomPolicy(seed)),
        num_envs=num_envs,
        prompt_format=prompt_format,
        progress=progress,
        description="random play for the demo base",
    )
    failed = [e for e in episodes if e.error is not None]
    episodes = [e for e in episodes if e.error is None]
    if not episodes:
        raise RuntimeError(
            f"every random-play episode failed (first error: {failed[0].error}): no text to pretrain the demo base on"
        )
    observations, chats = random_play_corpus(episodes, prompt_format)
    return warm_start(
        f"demo-{name}-{settings.preset}",
        texts=observations,
        chats=chats,
        max_length=settings.max_length,
        **settings.training(),
        seed=seed,
        cache_dir=cache_dir,
        progress=progress,
    )
