"""`check_env`: the contract every env's tests run (types, determinism for a seed, expert wins, close)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentkit.envs.base import TextEnv


class EnvCheckError(AssertionError):
    """An env broke the interface contract; the message names the env and the broken rule."""


@dataclass
class CheckReport:
    env: str
    episodes: int
    mean_expert_steps: float
    mean_expert_return: float


def _require(ok: bool, env: TextEnv, message: str) -> None:
    if not ok:
        raise EnvCheckError(f"{type(env.unwrapped).__name__} ({env.name!r}): {message}")


def _check_info(env: TextEnv, info: Any, where: str) -> None:
    _require(isinstance(info, dict), env, f"{where}: info must be a dict, got {type(info).__name__}")
    _require(isinstance(info.get("won"), bool), env, f"{where}: info['won'] must be a bool")
    actions = info.get("admissible_actions")
    if actions is not None:
        _require(
            isinstance(actions, list) and all(isinstance(a, str) for a in actions),
            env,
            f"{where}: info['admissible_actions'] must be a list of str",
        )


def _expert_episode(env: TextEnv, seed: int, options: dict | None) -> tuple[list[Any], list[str]]:
    """Play the expert from `reset(seed)`; returns the transcript (obs, rewards, flags) and the actions."""
    obs, info = env.reset(seed=seed, options=options)
    _require(isinstance(obs, str) and obs.strip() != "", env, "reset() must return a non-empty str observation")
    _check_info(env, info, "reset()")
    transcript: list[Any] = [obs]
    actions: list[str] = []
    terminated = truncated = False
    while not (terminated or truncated):
        _require(len(actions) <= env.max_steps, env, f"episode ran past max_steps={env.max_steps}")
        action = env.expert_action()
        _require(isinstance(action, str) and action != "", env, "expert_action() must return a non-empty str")
        result = env.step(action)
        _require(isinstance(result, tuple) and len(result) == 5, env, "step() must return a 5-tuple")
        obs, reward, terminated, truncated, info = result
        where = f"step({action!r})"
        _require(isinstance(obs, str), env, f"{where}: observation must be a str")
        is_number = isinstance(reward, int | float) and not isinstance(reward, bool)
        _require(is_number, env, f"{where}: reward must be a number")
        _require(isinstance(terminated, bool) and isinstance(truncated, bool), env, f"{where}: flags must be bools")
        _check_info(env, info, where)
        actions.append(action)
        transcript.append((obs, float(reward), terminated, truncated, info["won"]))
    _require(info["won"] and terminated, env, f"the expert did not win from seed {seed} ({len(actions)} steps)")
    return transcript, actions


def check_env(env: TextEnv, seeds: tuple[int, ...] = (0, 1), options: dict | None = None) -> CheckReport:
    """Run the interface checks on `env`; raises `EnvCheckError` naming the first broken rule."""
    _require(isinstance(env.name, str) and env.name != "", env, "env.name must be a non-empty str")
    _require(isinstance(env.max_steps, int) and env.max_steps > 0, env, "env.max_steps must be a positive int")
    steps: list[int] = []
    returns: list[float] = []
    for seed in seeds:
        transcript, actions = _expert_episode(env, seed, options)
        again, _ = _expert_episode(env, seed, options)
        _require(again == transcript, env, f"two resets with seed {seed} gave different episodes (not deterministic)")
        steps.append(len(actions))
        returns.append(sum(step[1] for step in transcript[1:]))
    env.close()
    env.close()
    return CheckReport(env.name, len(seeds), sum(steps) / len(steps), sum(returns) / len(returns))
