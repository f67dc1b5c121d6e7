"""The one interface every agentkit environment implements, with Gymnasium's `reset`/`step` signatures.

Observations and actions are text. `info` always carries `won` (bool) and, where the env knows them,
`admissible_actions` (list of str). Every env has an expert, so demonstrations need no model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from agentkit.errors import AgentkitError


class EnvError(AgentkitError):
    """A user-facing env error: bad name, bad option, a task that does not exist."""


class TextEnv(ABC):
    """A multi-turn text environment.

    Subclasses set `name` and `max_steps` and implement the four methods; they play the game only:
    `make()` wraps every env in `EpisodeLimit`, which counts steps, truncates at `max_steps` and refuses
    steps outside an episode. A task is picked by `options={"task_id": ...}` or, without one,
    deterministically from `seed`.
    """

    name: str = ""
    max_steps: int = 50
    # True when several instances may step at once from different threads (e.g. each in its own process).
    thread_safe: bool = False

    @abstractmethod
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        """Start an episode; returns the first observation (with the objective) and `info`."""

    @abstractmethod
    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        """Apply a free-text action: (observation, reward, terminated, truncated, info)."""

    @abstractmethod
    def expert_action(self) -> str:
        """The oracle's next action from the current state."""

    def expert_decision(self) -> tuple[str, str | None]:
        """The oracle's next action and, where the env can say it, why (the thought thought cloning learns)."""
        return self.expert_action(), None

    def task_ids(self) -> list[str]:
        """The tasks this env instance can reset to (its split); empty when tasks are open-ended."""
        return []

    @property
    def unwrapped(self) -> TextEnv:
        """The env itself, under any wrappers (`make()` returns it wrapped in `EpisodeLimit`)."""
        return self

    def close(self) -> None:  # noqa: B027 (a no-op default: most envs hold nothing to release)
        """Release resources; calling it twice is harmless."""

    def __enter__(self) -> TextEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
