"""Agent-R: an agent learns to notice its own errors mid-episode and revise (Yuan et al., 2025,
"Agent-R: Training Language Model Agents to Reflect via Iterative Self-Training").

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/agent_r.py \
        --config recipes/configs/agent_r_textworld.yaml [key=value ...]

Round 0 is the start: a behaviour-cloning policy on expert demos (or `start_adapter`). Each round k then
(1) searches every training task with MCTS under the current policy (`agentkit.mcts`), (2) pairs good and
bad paths of each tree, places the error step by the policy's own critique (or the value drop) and splices
revision trajectories (`agentkit.revision`), (3) continues training the policy on the revision and good
trajectories, (4) evaluates it on held-out tasks. The policy is a LoRA adapter (`adapter/`), or with
`lora.full_finetune=true` a whole model (`model/`: what learns on a 1M-parameter demo base). A run folder
holds `round_{k}/` (trees.jsonl, revisions.jsonl, good.jsonl, the policy, eval_*.jsonl, round.json),
metrics.json, report.md and success.png.
A finished round is skipped on a re-run; an interrupted one restarts without touching earlier rounds.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

from agentkit.agent_settings import EnvSettings, EvalSettings, collect_expert_demos, start_model
from agentkit.config import parse_recipe_args, print_report, run_recipe, save_config
from agentkit.demo_base import DemoBaseSettings
from agentkit.errors import AgentkitError
from agentkit.mcts import SearchSettings
from agentkit.policies import check_noise
from agentkit.prompts import PromptFormat
from agentkit.revision import REVISION_THOUGHTS, revision_reply
from agentkit.training.sft import LoraSettings, TrainSettings


@dataclass(frozen=True)
class SearchConfig(SearchSettings):
    """MCTS per training task (`agentkit.mcts.SearchSettings`; its `seed` is offset by the run's seed and
    the round); `trees_at_once` trees advance together, each with its own env."""

    trees_at_once: int = 8
    backend: Literal["hf", "vllm"] = "hf"
    threads: int | None = None


@dataclass
class RevisionConfig:
    """Pairs need good >= alpha and good - bad >= beta (Agent-R's values)."""

    alpha: float = 0.5
    beta: float = 0.2
    pairs_per_task: int = 4
    good_per_task: int = 1
    critique: bool = True  # ask the policy to judge bad steps; off: always the value drop
    critique_max_tokens: int = 4
    # Without the policy's judgement, a command repeated to no effect (a loop) places the error before the
    # value drop, and bad paths that loop are paired first. Off by default, as in the paper's algorithm.
    revise_loops: bool = False
    thoughts: list[str] = field(default_factory=lambda: list(REVISION_THOUGHTS))
    # With an admissible action space the policy only ever names a listed command; offered here, each
    # revision thought's probability is weighed against acting at evaluation, so the policy can revise.
    offer_at_eval: bool = True

    def __post_init__(self) -> None:
        if not self.thoughts:
            raise ValueError("revision.thoughts must hold at least one revision thought")
        if self.pairs_per_task < 0 or self.good_per_task < 0:
            raise ValueError("pairs_per_task and good_per_task must be >= 0")


@dataclass
class AgentRConfig:
    model: str = "preset:tiny"
    output_dir: str = "runs/agent_r"
    cache_dir: str = ".cache/agentkit"
    seed: int = 0
    rounds: int = 3
    # The round-0 policy (an adapter folder, or a model folder with lora.full_finetune); else round 0
    # trains it by behaviour cloning on expert demos.
    start_adapter: str | None = None
    demos_per_task: int = 1
    demo_noise: float = 0.0  # as in the BC recipe: random expert steps, not trained on (DART)
    # Expert demos (episodes JSONL, e.g. the BC run's demos.jsonl) trained on again beside every round's
    # revision and good trajectories, so a round adds to what the start policy knew instead of replacing it.
    replay_demos: str | None = None
    env: EnvSettings = field(default_factory=EnvSettings)
    demo_base: DemoBaseSettings = field(default_factory=DemoBaseSettings)  # used when model is `demo`
    prompt: PromptFormat = field(default_factory=PromptFormat)
    lora: LoraSettings = field(default_factory=LoraSettings)
    bc_train: TrainSettings = field(default_factory=TrainSettings)
    train: TrainSettings = field(default_factory=lambda: TrainSettings(epochs=1.0, learning_rate=5e-4))
    search: SearchConfig = field(default_factory=SearchConfig)
    revision: RevisionConfig = field(default_factory=RevisionConfig)
    eval: EvalSettings = field(default_factory=EvalSettings)

    def __post_init__(self) -> None:
        if self.rounds < 0:
            raise ValueError(f"rounds={self.rounds} must be >= 0")
        check_noise(self.demo_noise, "demo_noise")
        if self.replay_demos is not None and not Path(self.replay_demos).is_file():
            raise ValueError(f"replay_demos={self.replay_demos!r} is not a file")


def revised(episode, thoughts: list[str]) -> bool:
    """Whether the agent said one of the revision thoughts during the episode."""
    return any(turn.role == "assistant" and any(t in turn.text for t in thoughts) for turn in episode.turns)


def evaluate(config: AgentRConfig, model: str, round_dir: Path, name: str) -> dict[str, Any]:
    """The round's policy on the held-out tasks (greedy, same tasks and seeds every round)."""
    from agentkit.eval.agent import evaluate_agents
    from agentkit.rollout.backend import make_backend
    from agentkit.rollout.engine import ModelAgent
    from agentkit.rollout.sampling import SamplingParams
    from agentkit.trajectory import read_episodes

    tasks = config.env.tasks(config.env.eval_kwargs, config.seed, limit=config.env.eval_limit)
    kwargs = {"threads": config.eval.threads} if config.eval.backend == "hf" else {}
    sampling = SamplingParams(max_tokens=config.eval.max_tokens)
    tuned = config.lora.backend_model(model, config.lora.output_folder(round_dir))
    backend = partial(make_backend, config.eval.backend, *tuned, **kwargs)
    # Free-text generation ignores extra replies: a model that writes replies can write a revision itself.
    extra = tuple(revision_reply(t) for t in config.revision.thoughts) if config.revision.offer_at_eval else ()
    agents = {name: lambda: ModelAgent(backend(), sampling, config.eval.action_space, extra)}
    (summary,) = evaluate_agents(
        agents,
        config.env.factory(config.env.eval_kwargs),
        tasks,
        round_dir,
        num_envs=config.eval.num_envs,
        prompt_format=config.prompt,
        prefix="eval_",
        agreement=config.eval.expert_agreement,
    )
    episodes, _ = read_episodes(round_dir / f"eval_{name}.jsonl")
    with_revision = [e for e in episodes if revised(e, config.revision.thoughts)]
    return {
        **summary.as_dict(),
        "episodes_with_revision": len(with_revision),
        "revised_then_succeeded": sum(e.success for e in with_revision),
    }


def start_round(config: AgentRConfig, model: str, run_dir: Path, cpu: bool) -> dict[str, Any]:
    """Round 0: the start policy, trained by behaviour cloning on expert demos unless one is given."""
    from agentkit.training.sft import train_on_episodes
    from agentkit.trajectory import read_episodes

    round_dir = run_dir / "round_0"
    round_dir.mkdir(parents=True, exist_ok=True)
    policy = config.lora.output_folder(round_dir)
    training: dict[str, Any] = {}
    if config.start_adapter is not None:
        shutil.copytree(config.start_adapter, policy, dirs_exist_ok=True)
    else:
        episodes, _ = read_episodes(collect_expert_demos(config, round_dir / "demos.jsonl"))
        wins = [e for e in episodes if e.success]  # cloning a failed demonstration teaches failure
        if not wins:
            raise AgentkitError(
                f"none of the {len(episodes)} expert demos won (env.kwargs={config.env.kwargs}): "
                "nothing to clone; raise the env's step limit"
            )
        training = train_on_episodes(
            model, wins, config.prompt, config.lora, config.bc_train, round_dir, policy, cpu=cpu
        )
    return {"round": 0, "train": training, "policy": str(policy)}


def build_data(config: AgentRConfig, backend, round_index: int, round_dir: Path) -> dict[str, Any]:
    """MCTS on every training task, then pairs, critique and splices; files are renamed into place at the
    end, so a round with all three files has its complete data."""
    import random

    from rich.progress import MofNCompleteColumn, Progress, TimeElapsedColumn

    from agentkit.mcts import Search, build_trees, close_trees
    from agentkit.revision import good_episode, good_paths, leaf_paths, locate_errors, select_pairs, splice
    from agentkit.trajectory import TrajectoryWriter

    s, r = config.search, config.revision
    settings = replace(s, seed=s.seed + config.seed + 7919 * round_index)
    tasks = config.env.train_tasks(config.seed)
    names = ("trees.jsonl", "revisions.jsonl", "good.jsonl")
    partials = [round_dir / f"{name}.partial" for name in names]
    for path in partials:
        path.unlink(missing_ok=True)
    choose = random.Random(config.seed + round_index)
    search = Search(backend, config.prompt, settings)
    totals = {
        "tasks": len(tasks),
        "failed_tasks": [],
        "pairs": 0,
        "revisions": 0,
        "good": 0,
        "critique_rules": {"model": 0, "repeat": 0, "value_drop": 0},
        "nodes": 0,
        "leaves": 0,
        "winning_leaves": 0,
        "generate_calls": 0,
        "resets": 0,
        "env_steps": 0,
        "cache_hits": 0,
    }
    with (
        TrajectoryWriter(partials[1]) as revisions,
        TrajectoryWriter(partials[2]) as goods,
        partials[0].open("w", encoding="utf-8") as trees_file,
        Progress(*Progress.get_default_columns()[:2], MofNCompleteColumn(), TimeElapsedColumn()) as bar,
    ):
        handle = bar.add_task(f"MCTS round {round_index}", total=len(tasks))
        for start in range(0, len(tasks), s.trees_at_once):
            trees, failed = build_trees(
                config.env.factory(config.env.train_kwargs),
                tasks[start : start + s.trees_at_once],
                s.max_depth,
                s.discount,
            )
            totals["failed_tasks"] += [{"task_id": task.task_id, "error": error} for task, error in failed]
            try:
                search.run(trees)
                stats = search.stats(trees)
                for key in ("nodes", "leaves", "winning_leaves", "resets", "env_steps", "cache_hits"):
                    totals[key] += getattr(stats, key)
                chosen = {}
                for tree in trees:
                    paths = leaf_paths(tree)
                    chosen[id(tree)] = (
                        select_pairs(paths, r.alpha, r.beta, r.pairs_per_task, r.revise_loops),
                        good_paths(paths, r.alpha, r.good_per_task),
                    )
                all_pairs = [pair for pairs, _ in chosen.values() for pair in pairs]
                locate_errors(all_pairs, backend if r.critique else None, r.critique_max_tokens, r.revise_loops)
                for tree in trees:
                    pairs, goods_of_tree = chosen[id(tree)]
                    for pair in pairs:
                        thought = choose.choice(r.thoughts)
                        revisions.write(splice(pair, config.env.name, config.prompt, thought, round_index))
                        totals["critique_rules"][pair.rule] += 1
                    for path in goods_of_tree:
                        goods.write(good_episode(path, config.env.name, config.prompt, round_index))
                    totals["pairs"] += len(pairs)
                    totals["revisions"] += len(pairs)
                    totals["good"] += len(goods_of_tree)
                    record = tree.as_record(config.env.name, round_index, [p.as_record() for p in pairs])
                    trees_file.write(json.dumps(record, ensure_ascii=False) + "\n")
            finally:
                close_trees(trees)
            bar.update(handle, advance=len(trees) + len(failed))
    totals["generate_calls"] = search.generate_calls
    for path, name in zip(partials, names, strict=True):
        path.rename(round_dir / name)
    return totals


class SearchPolicy:
    """The rollout backend MCTS samples, always on the newest policy: one backend of the base model with
    each round's adapter hot-loaded (LoRA), or a new backend per round on its model (full fine-tune)."""

    def __init__(self, config: AgentRConfig, model: str):
        self.config, self.model = config, model
        self.backend = None

    def load(self, round_dir: Path):
        from agentkit.rollout.backend import make_backend

        search = self.config.search
        kwargs = {"threads": search.threads} if search.backend == "hf" else {}
        policy = str(self.config.lora.output_folder(round_dir))
        if self.config.lora.full_finetune:
            self.close()
            self.backend = make_backend(search.backend, policy, **kwargs)
        else:
            if self.backend is None:
                self.backend = make_backend(search.backend, self.model, **kwargs)
            self.backend.load_adapter(policy)
        return self.backend

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None


def agent_r_round(
    config: AgentRConfig, model: str, search_policy: SearchPolicy, k: int, run_dir: Path, cpu: bool
) -> dict[str, Any]:
    from agentkit.training.sft import train_on_episodes
    from agentkit.trajectory import read_episodes

    round_dir = run_dir / f"round_{k}"
    round_dir.mkdir(parents=True, exist_ok=True)
    previous_round = run_dir / f"round_{k - 1}"
    previous = config.lora.output_folder(previous_round)
    data_files = [round_dir / name for name in ("trees.jsonl", "revisions.jsonl", "good.jsonl")]
    data_path = round_dir / "data.json"
    if all(p.is_file() for p in data_files) and data_path.is_file():
        data = json.loads(data_path.read_text())
    else:
        data = build_data(config, search_policy.load(previous_round), k, round_dir)
        data_path.write_text(json.dumps(data, indent=2))
    found = read_episodes(data_files[1])[0] + read_episodes(data_files[2])[0]
    # A round that found nothing has nothing new to add to the demos: it trains on neither.
    replayed = [e for e in read_episodes(config.replay_demos)[0] if e.success] if found and config.replay_demos else []
    episodes = found + replayed
    policy = config.lora.output_folder(round_dir)
    if episodes:
        # A full fine-tune continues the previous round's model; LoRA continues its adapter on the base.
        start, init_adapter = config.lora.backend_model(model, previous)
        training = train_on_episodes(
            start,
            episodes,
            config.prompt,
            config.lora,
            config.train,
            round_dir,
            policy,
            cpu=cpu,
            init_adapter=init_adapter,
        )
    else:  # nothing to learn from this round: the policy carries over unchanged
        shutil.copytree(previous, policy, dirs_exist_ok=True)
        training = {"samples": 0, "global_steps": 0, "train_loss": None, "loss_history": []}
    return {"round": k, "search": data, "replayed_demos": len(replayed), "train": training, "policy": str(policy)}


def write_report(config: AgentRConfig, run_dir: Path, rounds: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (run_dir / "metrics.json").write_text(json.dumps({"rounds": rounds}, indent=2))
    labels = ["BC start" if r["round"] == 0 else f"round {r['round']}" for r in rounds]
    rates = [r["eval"]["success_rate"] for r in rounds]
    errors = [
        [r["eval"]["success_rate"] - r["eval"]["success_low"] for r in rounds],
        [r["eval"]["success_high"] - r["eval"]["success_rate"] for r in rounds],
    ]
    fig, ax = plt.subplots(figsize=(max(4, 1.3 * len(rounds)), 3.2))
    ax.bar(labels, rates, yerr=errors, capsize=4, color=["#999999"] + ["#4c72b0"] * (len(rounds) - 1))
    ax.set_ylim(0, 1)
    ax.set_ylabel("held-out success")
    ax.set_title(f"Agent-R on {config.env.name}")
    fig.tight_layout()
    fig.savefig(run_dir / "success.png", dpi=120)
    plt.close(fig)
    lines = [
        f"# Agent-R on {config.env.name}",
        "",
        f"Model `{config.model}`, {config.rounds} rounds of MCTS ({config.search.iterations} iterations, "
        f"k={config.search.candidates}, c={config.search.exploration}) -> revision + good trajectories -> SFT.",
        "",
        "| round | revisions | good paths | critique by model / repeat / value drop | train loss | success (95% CI) "
        "| repeated actions | actions in loops | expert agreement | episodes with a revision (succeeded) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in zip(labels, rounds, strict=True):
        search, e = r.get("search", {}), r["eval"]
        rules = search.get("critique_rules", {})
        loss = r["train"].get("train_loss")
        agreement = e.get("expert_agreement")  # absent from rounds evaluated without it
        loops = e.get("loop_action_rate")  # absent from rounds evaluated before it was measured
        lines.append(
            f"| {label} | {search.get('revisions', '-')} | {search.get('good', '-')} | "
            f"{rules.get('model', '-')} / {rules.get('repeat', '-')} / {rules.get('value_drop', '-')} | "
            f"{'-' if loss is None else f'{loss:.3f}'} | {e['success_rate']:.1%} "
            f"({e['success_low']:.1%}-{e['success_high']:.1%}) | {e['repeated_action_rate']:.1%} | "
            f"{'-' if loops is None else f'{loops:.1%}'} | {'-' if agreement is None else f'{agreement:.1%}'} | "
            f"{e['episodes_with_revision']} ({e['revised_then_succeeded']}) |"
        )
    (run_dir / "report.md").write_text("\n".join(lines) + "\n")


def run(config: AgentRConfig, cpu: bool) -> list[dict[str, Any]]:
    """Every round not yet finished, in order; returns the round records (finished ones read back)."""
    run_dir = Path(config.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    model = start_model(config)
    rounds: list[dict[str, Any]] = []
    search_policy = SearchPolicy(config, model)
    try:
        for k in range(config.rounds + 1):
            round_dir = run_dir / f"round_{k}"
            record_path = round_dir / "round.json"
            if record_path.is_file():
                rounds.append(json.loads(record_path.read_text()))
                continue
            if k == 0:
                record = start_round(config, model, run_dir, cpu)
            else:
                record = agent_r_round(config, model, search_policy, k, run_dir, cpu)
            name = "bc" if k == 0 else f"round_{k}"
            record["eval"] = evaluate(config, model, round_dir, name)
            record_path.write_text(json.dumps(record, indent=2))
            rounds.append(record)
    finally:
        search_policy.close()
    write_report(config, run_dir, rounds)
    return rounds


def main(argv: list[str]) -> None:
    import torch

    config = parse_recipe_args(AgentRConfig, argv)
    # Without an accelerator the process must be told it runs on the CPU (as in the BC recipe).
    run(config, cpu=not torch.accelerator.is_available())
    print_report(config.output_dir)


if __name__ == "__main__":
    sys.exit(run_recipe("agent_r", main, sys.argv[1:]))
