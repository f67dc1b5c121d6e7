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
from pathlib import Path
from typing import Any

from agentkit.agent_settings import EnvSettings, EvalSettings, collect_expert_demos, start_model
from agentkit.config import parse_recipe_args, print_report, run_recipe, save_config
from agentkit.demo_base import DemoBaseSettings
from agentkit.policies import check_noise
from agentkit.prompts import PromptFormat
from agentkit.training.ranks import finish_training
from agentkit.training.sft import LoraSettings, TrainSettings


@dataclass
class BCConfig:
    # A local path or hub name; `preset:tiny|small` (random init, built locally); `demo` (the demo base:
    # pretrained on random play in this env, built locally with `demo_base`, cached by content).
    model: str = "demo"
    output_dir: str = "runs/bc"
    cache_dir: str = ".cache/agentkit"
    demos: str | None = None  # an existing trajectory file; else expert demos are collected
    demos_per_task: int = 1
    # Share of expert demo steps replaced by a random other command, not trained on (DART): the expert's
    # next decisions then label states off its own path. With it, demos_per_task > 1 adds different episodes.
    demo_noise: float = 0.0
    seed: int = 0
    env: EnvSettings = field(default_factory=EnvSettings)
    demo_base: DemoBaseSettings = field(default_factory=DemoBaseSettings)
    prompt: PromptFormat = field(default_factory=PromptFormat)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    skip_eval: bool = False

    def __post_init__(self) -> None:
        check_noise(self.demo_noise, "demo_noise")
        if self.demos is not None and not Path(self.demos).is_file():
            raise ValueError(f"demos={self.demos!r} is not a file")


def train(
    config: BCConfig, model: str, demos: Path, run_dir: Path, cpu: bool, thought_weight: float | None = None
) -> dict[str, Any]:
    from agentkit.training.sft import train_on_episodes
    from agentkit.trajectory import read_episodes

    episodes, skipped = read_episodes(demos)
    wins = [e for e in episodes if e.success]  # cloning a failed demonstration teaches failure
    out = config.lora.output_folder(run_dir)
    result = train_on_episodes(
        model, wins, config.prompt, config.lora, config.train, run_dir, out, cpu=cpu, thought_weight=thought_weight
    )
    return {"demos": len(episodes), "demos_used": len(wins), "invalid_demo_lines": skipped, **result}


def evaluate(config: BCConfig, model: str, run_dir: Path, label: str) -> dict[str, list]:
    """Random policy, base model and the trained model (`label`) on each held-out set, same seeds for all."""
    from agentkit.eval.agent import evaluate_agents
    from agentkit.policies import RandomPolicy
    from agentkit.rollout.backend import make_backend
    from agentkit.rollout.engine import ModelAgent, PolicyAgent
    from agentkit.rollout.sampling import SamplingParams

    sampling = SamplingParams(max_tokens=config.eval.max_tokens)
    space = config.eval.action_space
    backend_kwargs = {"threads": config.eval.threads} if config.eval.backend == "hf" else {}
    agents = {}
    if "random" in config.eval.baselines:
        agents["random"] = lambda: PolicyAgent(RandomPolicy(config.seed))
    if "base" in config.eval.baselines:
        agents["base"] = lambda: ModelAgent(make_backend(config.eval.backend, model, **backend_kwargs), sampling, space)
    tuned = config.lora.backend_model(model, config.lora.output_folder(run_dir))
    agents[label] = lambda: ModelAgent(make_backend(config.eval.backend, *tuned, **backend_kwargs), sampling, space)
    results = {}
    for name, split_kwargs in {"test": config.env.eval_kwargs, **config.env.extra_evals}.items():
        tasks = config.env.tasks(split_kwargs, config.seed, limit=config.env.eval_limit)
        factory = config.env.factory(split_kwargs)
        prefix = "eval_" if name == "test" else f"eval_{name}_"
        results[name] = evaluate_agents(
            agents,
            factory,
            tasks,
            run_dir,
            num_envs=config.eval.num_envs,
            prompt_format=config.prompt,
            prefix=prefix,
            agreement=config.eval.expert_agreement,
        )
    return results


def write_report(
    config: BCConfig, run_dir: Path, training: dict[str, Any], evaluations: dict[str, list], title: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from agentkit.eval.agent import bar_chart, markdown_table

    held_out = evaluations.get("test", [])
    metrics = {
        "method": title,
        "train": training,
        "eval": {e.name: e.as_dict() for e in held_out},
        "eval_extra": {
            name: {e.name: e.as_dict() for e in rows} for name, rows in evaluations.items() if name != "test"
        },
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if training["loss_history"]:
        steps, losses = zip(*training["loss_history"], strict=True)
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot(steps, losses)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.set_title(title.lower())
        fig.tight_layout()
        fig.savefig(run_dir / "loss.png", dpi=120)
        plt.close(fig)
    if held_out:
        bar_chart(held_out, str(run_dir / "success.png"), f"held-out {config.env.name} tasks")
    report = [
        f"# {title} on {config.env.name}",
        "",
        f"Model `{config.model}`, {training['demos_used']} expert demos ({training['samples']} decisions), "
        f"{training['global_steps']} steps, final training loss {training['train_loss']:.3f}, "
        f"{training['train_seconds']:.0f} s.",
        "",
    ]
    if not evaluations:
        report.append("(evaluation skipped)")
    for name, rows in evaluations.items():
        split = {"test": config.env.eval_kwargs, **config.env.extra_evals}[name].get("split", name)
        report += [f"## Held-out: {name} (split `{split}`)", "", markdown_table(rows), ""]
    (run_dir / "report.md").write_text("\n".join(report))


def run(config: BCConfig, *, title: str = "Behavior cloning", label: str = "bc", thought_weight: float | None = None):
    """The whole recipe for a parsed config (the thought cloning recipe runs it with thoughts weighted)."""
    import torch
    from accelerate import PartialState

    # Without an accelerator each process must be told it runs on the CPU, or every rank trains alone.
    cpu = not torch.accelerator.is_available()
    state = PartialState(cpu=cpu)
    run_dir = Path(config.output_dir)
    with state.main_process_first():  # rank 0 builds the model and demos; the others then read them
        if state.is_main_process:
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, run_dir / "config.yaml")
        model = start_model(config)
        demos = Path(config.demos) if config.demos else collect_expert_demos(config, run_dir / "demos.jsonl")
    training = train(config, model, demos, run_dir, cpu, thought_weight)
    if not finish_training(state):
        return
    evaluations = {} if config.skip_eval else evaluate(config, model, run_dir, label)
    write_report(config, run_dir, training, evaluations, title)
    print_report(run_dir)


def main(argv: list[str]) -> None:
    run(parse_recipe_args(BCConfig, argv))


if __name__ == "__main__":
    sys.exit(run_recipe("bc", main, sys.argv[1:]))
