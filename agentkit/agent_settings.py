"""The env and evaluation sections shared by the agent recipes' configs (behavior cloning, thought cloning,
Agent-R), and what is built from them: env factories, task lists, expert demos and the start model.

They live in the library, not in one recipe, so each recipe stays a self-contained script that imports
only `agentkit`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol

from agentkit.demo_base import DemoBaseConfig
from agentkit.envs.base import TextEnv
from agentkit.prompts import PromptFormat
from agentkit.rollout.admissible import ActionSpace
from agentkit.rollout.engine import Task


@dataclass
class EnvConfig:
    """`kwargs` build every env; `train_kwargs` / `eval_kwargs` are added for each split, whose first
    `train_limit` / `eval_limit` tasks are used (all when None)."""

    name: str = "textworld"
    kwargs: dict[str, Any] = field(default_factory=lambda: {"game_set": "custom"})
    train_kwargs: dict[str, Any] = field(default_factory=lambda: {"split": "train", "n_games": 40})
    eval_kwargs: dict[str, Any] = field(default_factory=lambda: {"split": "test", "n_games": 20})
    train_limit: int | None = None
    eval_limit: int | None = None
    step_timeout: float | None = 60.0  # None: in-process, no timeout (fast, but a hung env hangs the run)
    # More held-out sets, evaluated like `eval_kwargs`: name -> split kwargs (e.g. test_hard: {split: test_hard}).
    extra_evals: dict[str, dict[str, Any]] = field(default_factory=dict)

    def factory(self, split_kwargs: dict[str, Any]) -> Callable[[], TextEnv]:
        """Builds one env of a split (in a child process with a step timeout unless `step_timeout` is None)."""
        from agentkit.collect import build_env

        return partial(build_env, self.name, {**self.kwargs, **split_kwargs}, self.step_timeout)

    def tasks(self, split_kwargs: dict[str, Any], seed: int, per_task: int = 1, limit: int | None = None) -> list[Task]:
        """The split's first `limit` tasks, each `per_task` times with its own episode seed."""
        from agentkit.collect import task_ids_of

        ids = task_ids_of(self.name, {**self.kwargs, **split_kwargs})[:limit]
        return [Task(task_id, seed + 1000 * k + i) for k in range(per_task) for i, task_id in enumerate(ids)]

    def train_tasks(self, seed: int, per_task: int = 1) -> list[Task]:
        return self.tasks(self.train_kwargs, seed, per_task, self.train_limit)


@dataclass
class EvalConfig:
    backend: Literal["hf", "vllm"] = "hf"
    num_envs: int = 8
    max_tokens: int = 24
    baselines: list[str] = field(default_factory=lambda: ["random", "base"])
    threads: int | None = None
    # The HF backend's weights; `auto` takes bfloat16 where it is fast (`agentkit.precision`).
    dtype: Literal["auto", "float32", "bfloat16"] = "float32"
    expert_agreement: bool = True  # also score each agent's replies on the expert's own held-out decisions
    # `text`: the model writes its command; `admissible` (`admissible_sum`): it picks among the env's
    # admissible commands by its log-probability of each, per token (whole); every action is valid.
    action_space: ActionSpace = "text"

    def backend_kwargs(self) -> dict[str, Any]:
        """The options of this config's backend (the HF backend's threads and dtype; none for vLLM)."""
        return {"threads": self.threads, "dtype": self.dtype} if self.backend == "hf" else {}


class AgentRecipeConfig(Protocol):
    """The fields of an agent recipe's config that the functions below read (BC, TC and Agent-R have them)."""

    model: str
    cache_dir: str
    seed: int
    demos_per_task: int
    demo_noise: float
    env: EnvConfig
    prompt: PromptFormat
    demo_base: DemoBaseConfig
    eval: EvalConfig


def start_model(config: AgentRecipeConfig) -> str:
    """The model to start from (`agentkit.training.run.start_model`); the warm start is the demo base,
    pretrained on random play in the env's training tasks."""
    from agentkit.demo_base import build_demo_base
    from agentkit.training.run import start_model as resolve

    env = config.env

    def build() -> Path:
        return build_demo_base(
            env.factory(env.train_kwargs),
            env.train_tasks(config.seed),
            config.prompt,
            config.demo_base,
            name=env.name,
            cache_dir=config.cache_dir,
            seed=config.seed,
            num_envs=config.eval.num_envs,
        )

    return resolve(config, build)


def collect_expert_demos(config: AgentRecipeConfig, path: Path) -> Path:
    """Expert episodes on every training task, written as they finish to a partial file that is renamed to
    `path` once complete. An existing `path` is kept: a resumed run keeps its demonstrations."""
    from agentkit.policies import ExpertPolicy
    from agentkit.rollout.engine import PolicyAgent, rollout
    from agentkit.trajectory import TrajectoryWriter

    if path.exists():
        return path
    partial_path = path.with_suffix(".partial.jsonl")
    partial_path.unlink(missing_ok=True)
    env = config.env
    with TrajectoryWriter(partial_path) as writer:
        rollout(
            env.factory(env.train_kwargs),
            env.train_tasks(config.seed, config.demos_per_task),
            PolicyAgent(ExpertPolicy(config.demo_noise, config.seed)),
            num_envs=config.eval.num_envs,
            prompt_format=config.prompt,
            writer=writer,
            description="expert demos",
        )
    partial_path.rename(path)
    return path
