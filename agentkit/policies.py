"""Policies that need no model: the env's expert (demonstrations) and uniform random play (the floor)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

from agentkit.envs.base import EnvError, TextEnv


@dataclass
class Decision:
    """A policy's choice for one turn; `thought` is the reasoning behind it when the policy has one."""

    action: str
    thought: str | None = None
    train: bool = True  # a training target; False for an injected random step the expert did not choose


class Policy(Protocol):
    name: str

    def reset(self, seed: int | None) -> None:
        """Start an episode; `seed` makes a stochastic policy's episode reproducible on its own."""

    def act(self, env: TextEnv, messages: list[dict[str, str]], info: dict[str, Any]) -> Decision:
        """Choose the next action from the prompt `messages` (model policies) or the env itself."""


def check_noise(value: float, name: str = "noise") -> None:
    """An expert's noise is a probability below 1 (at 1 the expert would never act); `name` is the field."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value!r} must be in [0, 1)")


class ExpertPolicy:
    """The env's oracle, `env.expert_decision()`: its action and, where the env has one, its reasoning.

    With `noise` > 0 each step is, with that probability, a random other admissible command instead,
    marked as no training target (DART, Laskey et al. 2017): demonstrations then visit the states a
    cloned policy drifts into, and the expert's next decisions there teach the way back. The noisy step
    keeps the expert's thought, as an agent's wrong command comes with its own thought.
    """

    name = "expert"

    def __init__(self, noise: float = 0.0, seed: int = 0):
        check_noise(noise)
        self.noise, self.seed = noise, seed
        self._rng = random.Random(seed)

    def reset(self, seed: int | None) -> None:
        self._rng = random.Random(f"{self.seed}/{seed}")

    def act(self, env: TextEnv, messages: list[dict[str, str]], info: dict[str, Any]) -> Decision:
        action, thought = env.expert_decision()
        if self.noise:
            others = [a for a in info.get("admissible_actions") or [] if a != action]
            if others and self._rng.random() < self.noise:
                return Decision(self._rng.choice(others), thought, train=False)
        return Decision(action, thought)


class RandomPolicy:
    """Uniform among `info['admissible_actions']`; reseeded per episode from (seed, episode seed)."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._rng = random.Random(seed)

    def reset(self, seed: int | None) -> None:
        self._rng = random.Random(f"{self.seed}/{seed}")

    def act(self, env: TextEnv, messages: list[dict[str, str]], info: dict[str, Any]) -> Decision:
        actions = info.get("admissible_actions")
        if not actions:
            raise EnvError(f"env {env.name!r} gives no admissible_actions: the random policy needs them")
        return Decision(self._rng.choice(actions))


POLICIES = {"expert": ExpertPolicy, "random": RandomPolicy}


def make_policy(name: str, seed: int = 0) -> Policy:
    """A model-free policy by name (`expert` or `random`)."""
    if name == "random":
        return RandomPolicy(seed)
    if name == "expert":
        return ExpertPolicy()
    raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}")
