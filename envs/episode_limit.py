"""`EpisodeLimit`: the wrapper `make()` puts around every env, so envs implement only their game.

It owns what Gymnasium splits over `TimeLimit` and `OrderEnforcing`: it counts the episode's steps,
truncates the episode at the env's `max_steps` (unless that step terminated it), and refuses `step()`
before a successful `reset()` and after the episode ended, and the expert before a successful `reset()`.
After the end the expert is left to the env: some still answer (the best move from the final state).
"""

from __future__ import annotations

from typing import Any

from agentkit.envs.base import EnvError, TextEnv


class EpisodeLimit(TextEnv):
    """`env` with its episodes counted, truncated at `env.max_steps` and kept in order.

    Other attributes are read from `env` (e.g. `make("textcraft").book`); `unwrapped` is `env` itself.
    `elapsed_steps` counts the steps of the current episode; a step the env raised on does not count.
    """

    def __init__(self, env: TextEnv):
        self.env = env
        self.name = env.name
        self.thread_safe = env.thread_safe
        self.elapsed_steps = 0
        self._started = False  # the last reset() succeeded and close() was not called since
        self._running = False  # the current episode has not ended

    @property
    def max_steps(self) -> int:
        return self.env.max_steps

    @property
    def unwrapped(self) -> TextEnv:
        return self.env.unwrapped

    def __getattr__(self, name: str) -> Any:
        if name == "env":  # not set yet (e.g. while copying): never recurse
            raise AttributeError(name)
        return getattr(self.env, name)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        self._started = self._running = False  # until the env's reset succeeds
        observation, info = self.env.reset(seed=seed, options=options)
        self.elapsed_steps, self._started, self._running = 0, True, True
        return observation, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if not self._running:
            raise EnvError(self._refusal("step()"))
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.elapsed_steps += 1
        truncated = truncated or (not terminated and self.elapsed_steps >= self.max_steps)
        self._running = not (terminated or truncated)
        return observation, reward, terminated, truncated, info

    def expert_action(self) -> str:
        self._require_started("expert_action()")
        return self.env.expert_action()

    def expert_decision(self) -> tuple[str, str | None]:
        self._require_started("expert_decision()")
        return self.env.expert_decision()

    def task_ids(self) -> list[str]:
        return self.env.task_ids()

    def close(self) -> None:
        self._started = self._running = False
        self.env.close()

    def _require_started(self, call: str) -> None:
        if not self._started:
            raise EnvError(self._refusal(call))

    def _refusal(self, call: str) -> str:
        if not self._started:
            return f"{self.name}: {call} before reset(): call reset() first"
        return f"{self.name}: {call} after the episode ended: the episode is over, call reset() for a new one"
