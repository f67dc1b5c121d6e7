"""Play a policy or a model in an env and write the episodes as trajectories (the `agentkit collect` command).

Everything goes through the rollout engine, so demonstrations, baselines and model rollouts are built
the same way: the system prompt, the raw observations as user turns (admissible commands in their
`info`; `PromptFormat.messages_for` renders the windowed prompt from them) and the replies as assistant
turns with `loss=True`. A failing env (missing or corrupt game, interpreter error, a step past its
timeout) fails only its episode: the error is recorded and the run goes on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from agentkit.envs.base import TextEnv
from agentkit.envs.registry import make
from agentkit.envs.subprocess_env import SubprocessEnv
from agentkit.errors import AgentkitError
from agentkit.policies import Policy
from agentkit.prompts import PromptFormat
from agentkit.rollout.engine import Agent, PolicyAgent, Task, rollout
from agentkit.trajectory import Episode, TrajectoryWriter, scan_episodes


def _as_agent(actor: Agent | Policy) -> Agent:
    return actor if isinstance(actor, Agent) else PolicyAgent(actor)


def play_episode(
    env: TextEnv,
    policy: Agent | Policy,
    task_id: str | None = None,
    seed: int | None = None,
    prompt_format: PromptFormat | None = None,
) -> Episode:
    """One episode in an env the caller owns (left open); any error ends it as a recorded failure."""
    episodes, _ = rollout(
        lambda: env,
        [Task(task_id, seed or 0)],
        _as_agent(policy),
        num_envs=1,
        prompt_format=prompt_format,
        progress=False,
        close_envs=False,
    )
    return episodes[0]


class CollectError(AgentkitError, ValueError):
    """A bad collect argument; the message names it and its value."""


@dataclass
class CollectSummary:
    path: Path
    episodes: int
    successes: int
    errors: int
    skipped: int = 0  # planned episodes already in the file, not played again (resume)
    duplicated: int = 0  # planned episodes already in the file, played again

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0


def build_env(env_name: str, env_kwargs: dict[str, Any], step_timeout: float | None) -> TextEnv:
    """An env for the rollout engine: in a child process with a per-call timeout, or in this one (None)."""
    if step_timeout is None:
        return make(env_name, **env_kwargs)
    # The constructor may generate many games: no limit on start-up, only on calls.
    return SubprocessEnv(env_name, env_kwargs, step_timeout=step_timeout, start_timeout=None)


def task_ids_of(env_name: str, env_kwargs: dict[str, Any]) -> list[str]:
    """The env's task ids; building it once here also generates and caches its task set before workers start."""
    env = make(env_name, **env_kwargs)
    try:
        return env.task_ids()
    finally:
        env.close()


def recorded_tasks(path: str | os.PathLike[str], agent: str) -> set[tuple[str, int | None]]:
    """The (task id, seed) of every valid episode line of `path` that `agent` played (none without a file)."""
    if not Path(path).is_file():
        return set()
    return {
        (item.task_id, item.seed)
        for item in scan_episodes(path)
        if isinstance(item, Episode) and item.meta.get("agent") == agent
    }


def _is_recorded(task: Task, recorded: set[tuple[str, int | None]]) -> bool:
    """An env without task ids names its episodes itself: there the seed alone identifies one."""
    if task.task_id is not None:
        return (task.task_id, task.seed) in recorded
    return any(seed == task.seed for _, seed in recorded)


def collect(
    env_name: str,
    env_kwargs: dict[str, Any] | None,
    policy: Agent | Policy,
    episodes: int,
    out_path: str | os.PathLike[str],
    *,
    prompt_format: PromptFormat | None = None,
    seed: int = 0,
    step_timeout: float | None = 30.0,
    num_envs: int = 1,
    progress: bool = True,
    resume: bool = False,
) -> CollectSummary:
    """Play `episodes` episodes and append them to `out_path` (JSONL, one episode per line).

    Episode i plays task `task_ids()[i % n]` (or, for envs without task ids, the task of seed `seed + i`)
    with reset seed `seed + i`, `num_envs` at a time. With `step_timeout` each env runs in a child process
    and any call past the timeout kills it and fails only that episode; `None` runs envs in this process.
    `resume` skips the (task, seed) pairs `out_path` already holds from this agent (a re-run after a kill
    finishes the rest); without it they are played again, counted in the summary's `duplicated`.
    """
    for name, value in (("episodes", episodes), ("num_envs", num_envs)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise CollectError(f"{name}={value!r} must be an int >= 1")
    env_kwargs = dict(env_kwargs or {})
    task_ids = task_ids_of(env_name, env_kwargs)
    planned = [Task(task_ids[i % len(task_ids)] if task_ids else None, seed + i) for i in range(episodes)]
    agent = _as_agent(policy)
    recorded = recorded_tasks(out_path, agent.name)
    tasks = [task for task in planned if not (resume and _is_recorded(task, recorded))]
    repeated = sum(_is_recorded(task, recorded) for task in tasks)
    with TrajectoryWriter(out_path) as writer:
        done, _ = rollout(
            partial(build_env, env_name, env_kwargs, step_timeout),
            tasks,
            agent,
            num_envs=num_envs,
            prompt_format=prompt_format,
            writer=writer,
            progress=progress,
            description=f"{env_name} {agent.name}",
        )
    return CollectSummary(
        Path(out_path),
        len(done),
        sum(e.success for e in done),
        sum(e.error is not None for e in done),
        skipped=len(planned) - len(tasks),
        duplicated=repeated,
    )
