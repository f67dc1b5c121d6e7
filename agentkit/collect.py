"""Play a policy in an env and write the episodes as trajectories (the `agentkit collect` command).

Each episode is stored as its full conversation: the system prompt, the raw observations as user turns
(admissible commands in their `info`; `PromptFormat.messages_for` renders the windowed prompt from them)
and the policy's replies as assistant turns with `loss=True` and exactly the text a model is trained to
produce. A failing env (missing or corrupt game, interpreter
error, a step past its timeout) fails only its episode: the error is recorded and the run goes on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkit.envs.base import TextEnv
from agentkit.envs.registry import make
from agentkit.envs.subprocess_env import SubprocessEnv
from agentkit.policies import Policy
from agentkit.prompts import PromptFormat
from agentkit.trajectory import Episode, TrajectoryWriter, Turn


def play_episode(
    env: TextEnv,
    policy: Policy,
    task_id: str | None = None,
    seed: int | None = None,
    prompt_format: PromptFormat | None = None,
) -> Episode:
    """One episode of `policy` in `env`; any error ends the episode as a recorded failure."""
    prompt_format = prompt_format or PromptFormat()
    turns = [Turn("system", prompt_format.system_prompt())]
    episode = Episode(task_id=task_id or f"seed-{seed}", env=env.name, turns=turns, seed=seed,
                      meta={"policy": policy.name, "truncated": False})
    try:
        policy.reset(seed)
        observation, info = env.reset(seed=seed, options=None if task_id is None else {"task_id": task_id})
        episode.task_id = str(info.get("task_id", episode.task_id))
        turns.append(prompt_format.observation_turn(observation, info))
        done = False
        while not done:
            decision = policy.act(env, prompt_format.messages_for(turns), info)
            observation, reward, terminated, truncated, info = env.step(decision.action)
            reply = prompt_format.reply(decision.action, decision.thought)
            turns.append(Turn("assistant", reply, thought=decision.thought, action=decision.action,
                              reward=float(reward), loss=True))
            turns.append(prompt_format.observation_turn(observation, info))
            episode.steps += 1
            episode.score += float(reward)
            done = terminated or truncated
        episode.success = bool(info["won"])
        episode.meta["truncated"] = bool(truncated)
    except Exception as exc:  # the env, its process or the policy failed: record it, keep the run going
        episode.error = f"{type(exc).__name__}: {exc}"
        episode.success = False
    return episode


@dataclass
class CollectSummary:
    path: Path
    episodes: int
    successes: int
    errors: int

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0


def collect(
    env_name: str,
    env_kwargs: dict[str, Any] | None,
    policy: Policy,
    episodes: int,
    out_path: str | os.PathLike[str],
    *,
    prompt_format: PromptFormat | None = None,
    seed: int = 0,
    step_timeout: float | None = 30.0,
    progress: bool = True,
) -> CollectSummary:
    """Play `episodes` episodes and append them to `out_path` (JSONL, one episode per line).

    Episode i plays task `task_ids()[i % n]` (or, for envs without task ids, the task of seed `seed + i`)
    with reset seed `seed + i`. With `step_timeout` the env runs in a child process and any call past the
    timeout kills it and fails only that episode; `None` runs the env in this process.
    """
    if not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes={episodes!r} must be a positive int")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    env_kwargs = dict(env_kwargs or {})
    if step_timeout is None:
        env: TextEnv = make(env_name, **env_kwargs)
    else:  # the constructor may generate many games: no limit on start-up, only on calls
        env = SubprocessEnv(env_name, env_kwargs, step_timeout=step_timeout, start_timeout=None)
    task_ids = env.task_ids()
    summary = CollectSummary(Path(out_path), 0, 0, 0)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with env, TrajectoryWriter(out_path) as writer, Progress(*columns, disable=not progress) as bar:
        task = bar.add_task(f"{env_name} {policy.name}", total=episodes)
        for index in range(episodes):
            task_id = task_ids[index % len(task_ids)] if task_ids else None
            episode = play_episode(env, policy, task_id, seed + index, prompt_format)
            writer.write(episode)
            summary.episodes += 1
            summary.successes += episode.success
            summary.errors += episode.error is not None
            bar.update(task, advance=1, description=(
                f"{env_name} {policy.name}: {summary.successes} won, {summary.errors} failed"))
    return summary
