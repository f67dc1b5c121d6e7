"""`check_env`: the contract every env's tests run on the env `make()` returns.

Types, determinism for a seed, the expert wins with admissible actions, a step after the end is refused,
every task id resets, close twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from agentkit.envs.base import EnvError, TextEnv


class EnvCheckError(AssertionError):
    """An env broke the interface contract; the message names the env and the broken rule."""


@dataclass
class CheckReport:
    env: str
    episodes: int
    mean_expert_steps: float
    mean_expert_return: float


def _fail(env: TextEnv, message: str) -> NoReturn:
    raise EnvCheckError(f"{type(env.unwrapped).__name__} ({env.name!r}): {message}")


def _require(ok: bool, env: TextEnv, message: str) -> None:
    if not ok:
        _fail(env, message)


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


def _check_reset(env: TextEnv, seed: int | None, options: dict | None) -> tuple[str, dict]:
    where = f"reset(seed={seed!r}, options={options!r})"
    try:
        obs, info = env.reset(seed=seed, options=options)
    except Exception as exc:
        _fail(env, f"{where} failed: {type(exc).__name__}: {exc}")
    _require(isinstance(obs, str) and obs.strip() != "", env, f"{where} must return a non-empty str observation")
    _check_info(env, info, where)
    return obs, info


def _expert_episode(env: TextEnv, seed: int, options: dict | None) -> tuple[list[Any], list[str]]:
    """Play the expert from `reset(seed)`; returns the transcript (obs, rewards, flags) and the actions.

    The expert's actions must be among the admissible ones where the env lists them; that is checked
    after the win, so an expert that cannot win is reported as such.
    """
    obs, info = _check_reset(env, seed, options)
    transcript: list[Any] = [obs]
    actions: list[str] = []
    unlisted: str | None = None  # the first expert action missing from the admissible actions shown with it
    terminated = truncated = False
    while not (terminated or truncated):
        _require(len(actions) <= env.max_steps, env, f"episode ran past max_steps={env.max_steps}")
        action = env.expert_action()
        _require(isinstance(action, str) and action != "", env, "expert_action() must return a non-empty str")
        listed = info.get("admissible_actions")
        if unlisted is None and listed is not None and action not in listed:
            unlisted = action
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
    if unlisted is not None:
        _fail(env, f"expert_action() {unlisted!r} from seed {seed} is not among info['admissible_actions']")
    _check_refuses_step(env, actions[-1], seed)
    return transcript, actions


def _check_refuses_step(env: TextEnv, action: str, seed: int) -> None:
    """A step after the episode ended must raise `EnvError`: the episode's outcome is final."""
    try:
        env.step(action)
    except EnvError:
        return
    except Exception as exc:
        _fail(env, f"step() after the episode from seed {seed} ended raised {type(exc).__name__}: {exc}; "
              "it must raise EnvError")
    _fail(env, f"step() after the episode from seed {seed} ended was accepted; it must raise EnvError")


def _check_task_resets(env: TextEnv) -> None:
    """Every id `task_ids()` lists resets to an episode of that task."""
    for task_id in env.task_ids():
        _, info = _check_reset(env, None, {"task_id": task_id})
        reported = info.get("task_id", task_id)
        _require(reported == task_id, env, f"reset to task_id {task_id!r} reported info['task_id']={reported!r}")


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
    _check_task_resets(env)
    env.close()
    env.close()
    return CheckReport(env.name, len(seeds), sum(steps) / len(steps), sum(returns) / len(returns))
