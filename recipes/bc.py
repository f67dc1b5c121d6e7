"""Behavior cloning: supervised fine-tuning of a LoRA adapter on expert trajectories.

The loss covers only the agent's turns (their `loss` flags): observations are context, never targets.
Each trained decision is one sample whose prompt is exactly what the agent sees when it acts.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/bc.py \
        --config recipes/configs/bc_textworld.yaml [key=value ...]

Steps: (1) expert demonstrations on the training tasks, (2) SFT with TRL, resumable from the last
checkpoint, (3) held-out evaluation of the random policy, the base model and the adapter, (4) a run
folder: adapter, config, metrics.json, report.md and plots.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from agentkit.config import parse_recipe_args, save_config
from agentkit.prompts import PromptFormat
from agentkit.training.sft import LoraSettings, TrainSettings


@dataclass
class EnvSettings:
    """`kwargs` build every env; `train_kwargs` / `eval_kwargs` are added for each split, whose first
    `train_limit` / `eval_limit` tasks are used (all when None)."""

    name: str = "textworld"
    kwargs: dict[str, Any] = field(default_factory=lambda: {"game_set": "custom"})
    train_kwargs: dict[str, Any] = field(default_factory=lambda: {"split": "train", "n_games": 40})
    eval_kwargs: dict[str, Any] = field(default_factory=lambda: {"split": "test", "n_games": 20})
    train_limit: int | None = None
    eval_limit: int | None = None
    step_timeout: float = 60.0


@dataclass
class EvalSettings:
    backend: Literal["hf", "vllm"] = "hf"
    num_envs: int = 8
    max_tokens: int = 24
    baselines: list[str] = field(default_factory=lambda: ["random", "base"])
    threads: int | None = None


@dataclass
class BCConfig:
    model: str = "preset:tiny"  # a local path, a hub name, or preset:tiny / preset:small (built locally)
    output_dir: str = "runs/bc"
    cache_dir: str = ".cache/agentkit"
    demos: str | None = None  # an existing trajectory file; else expert demos are collected
    demos_per_task: int = 1
    seed: int = 0
    env: EnvSettings = field(default_factory=EnvSettings)
    prompt: PromptFormat = field(default_factory=PromptFormat)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    skip_eval: bool = False


def resolve_model(config: BCConfig) -> str:
    """A `preset:NAME` model is built once in the cache (same preset and seed, same model)."""
    if not config.model.startswith("preset:"):
        return config.model
    from agentkit.models import make_tiny_model

    preset = config.model.split(":", 1)[1]
    folder = Path(config.cache_dir) / "models" / f"{preset}-seed{config.seed}"
    if not (folder / "config.json").is_file():
        make_tiny_model(folder, preset=preset, seed=config.seed)
    return str(folder)


def make_env(config: BCConfig, split_kwargs: dict[str, Any]):
    from agentkit.collect import build_env

    return build_env(config.env.name, {**config.env.kwargs, **split_kwargs}, config.env.step_timeout)


def tasks_of(config: BCConfig, split_kwargs: dict[str, Any], per_task: int, limit: int | None):
    from agentkit.collect import task_ids_of
    from agentkit.rollout.engine import Task

    ids = task_ids_of(config.env.name, {**config.env.kwargs, **split_kwargs})[:limit]
    return [Task(task_id, config.seed + 1000 * k + i) for k in range(per_task) for i, task_id in enumerate(ids)]


def trained_folder(config: BCConfig, run_dir: Path) -> Path:
    """Where the result goes: `adapter/` for a LoRA run, `model/` for a full fine-tune."""
    return run_dir / ("model" if config.lora.full_finetune else "adapter")


def collect_demos(config: BCConfig, run_dir: Path) -> Path:
    """Expert episodes on every training task, written as they finish."""
    from agentkit.policies import ExpertPolicy
    from agentkit.rollout.engine import PolicyAgent, rollout
    from agentkit.trajectory import TrajectoryWriter

    path = run_dir / "demos.jsonl"
    if path.exists():
        return path  # a resumed run keeps its demonstrations
    tasks = tasks_of(config, config.env.train_kwargs, config.demos_per_task, config.env.train_limit)
    partial_path = path.with_suffix(".partial.jsonl")
    partial_path.unlink(missing_ok=True)
    with TrajectoryWriter(partial_path) as writer:
        rollout(
            partial(make_env, config, config.env.train_kwargs),
            tasks,
            PolicyAgent(ExpertPolicy()),
            num_envs=config.eval.num_envs,
            prompt_format=config.prompt,
            writer=writer,
            description="expert demos",
        )
    partial_path.rename(path)
    return path


def train(config: BCConfig, model: str, demos: Path, run_dir: Path, cpu: bool) -> dict[str, Any]:
    from agentkit.training.sft import train_on_episodes
    from agentkit.trajectory import read_episodes

    episodes, skipped = read_episodes(demos)
    wins = [e for e in episodes if e.success]  # cloning a failed demonstration teaches failure
    out = trained_folder(config, run_dir)
    result = train_on_episodes(model, wins, config.prompt, config.lora, config.train, run_dir, out, cpu=cpu)
    return {"demos": len(episodes), "demos_used": len(wins), "invalid_demo_lines": skipped, **result}


def evaluate(config: BCConfig, model: str, run_dir: Path) -> list:
    """Random policy, base model and the trained adapter on the held-out tasks, same seeds for all."""
    from agentkit.eval.agent import evaluate_agents
    from agentkit.policies import RandomPolicy
    from agentkit.rollout.backend import make_backend
    from agentkit.rollout.engine import ModelAgent, PolicyAgent
    from agentkit.rollout.sampling import SamplingParams

    tasks = tasks_of(config, config.env.eval_kwargs, 1, config.env.eval_limit)
    sampling = SamplingParams(max_tokens=config.eval.max_tokens)
    backend_kwargs = {"threads": config.eval.threads} if config.eval.backend == "hf" else {}
    agents = {}
    if "random" in config.eval.baselines:
        agents["random"] = lambda: PolicyAgent(RandomPolicy(config.seed))
    if "base" in config.eval.baselines:
        agents["base"] = lambda: ModelAgent(make_backend(config.eval.backend, model, **backend_kwargs), sampling)
    trained = str(trained_folder(config, run_dir))
    # A LoRA run samples the base model with its adapter; a full fine-tune is a model of its own.
    tuned = (trained, None) if config.lora.full_finetune else (model, trained)
    agents["bc"] = lambda: ModelAgent(make_backend(config.eval.backend, *tuned, **backend_kwargs), sampling)
    factory = partial(make_env, config, config.env.eval_kwargs)
    return evaluate_agents(
        agents, factory, tasks, run_dir, num_envs=config.eval.num_envs, prompt_format=config.prompt, prefix="eval_"
    )


def write_report(config: BCConfig, run_dir: Path, training: dict[str, Any], evaluations: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from agentkit.eval.agent import bar_chart, markdown_table

    metrics = {"train": training, "eval": {e.name: e.as_dict() for e in evaluations}}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if training["loss_history"]:
        steps, losses = zip(*training["loss_history"], strict=True)
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot(steps, losses)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.set_title("behavior cloning")
        fig.tight_layout()
        fig.savefig(run_dir / "loss.png", dpi=120)
        plt.close(fig)
    if evaluations:
        bar_chart(evaluations, str(run_dir / "success.png"), f"held-out {config.env.name} tasks")
    report = [
        f"# Behavior cloning on {config.env.name}",
        "",
        f"Model `{config.model}`, {training['demos_used']} expert demos ({training['samples']} decisions), "
        f"{training['global_steps']} steps, final training loss {training['train_loss']:.3f}, "
        f"{training['train_seconds']:.0f} s.",
        "",
        markdown_table(evaluations) if evaluations else "(evaluation skipped)",
        "",
    ]
    (run_dir / "report.md").write_text("\n".join(report))


def main(argv: list[str]) -> None:
    import torch
    from accelerate import PartialState

    config = parse_recipe_args(BCConfig, argv)
    # Without an accelerator each process must be told it runs on the CPU, or every rank trains alone.
    cpu = not torch.accelerator.is_available()
    state = PartialState(cpu=cpu)
    run_dir = Path(config.output_dir)
    with state.main_process_first():  # rank 0 builds the model and demos; the others then read them
        if state.is_main_process:
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, run_dir / "config.yaml")
        model = resolve_model(config)
        demos = Path(config.demos) if config.demos else collect_demos(config, run_dir)
    training = train(config, model, demos, run_dir, cpu)
    if not state.is_main_process:
        return
    evaluations = [] if config.skip_eval else evaluate(config, model, run_dir)
    write_report(config, run_dir, training, evaluations)
    print((run_dir / "report.md").read_text())
    print(f"run folder: {run_dir}")


if __name__ == "__main__":
    from agentkit.errors import AgentkitError

    try:
        main(sys.argv[1:])
    except AgentkitError as exc:
        print(f"bc: error: {exc}", file=sys.stderr)
        sys.exit(2)
