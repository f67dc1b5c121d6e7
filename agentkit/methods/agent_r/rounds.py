"""Agent-R's rounds: the start policy (round 0), then per round search, revision data, training, eval."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from agentkit.agent_settings import collect_expert_demos
from agentkit.errors import AgentkitError
from agentkit.methods.agent_r.config import AgentRConfig
from agentkit.methods.agent_r.revision import revision_reply


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
    kwargs = config.eval.backend_kwargs()
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

    from agentkit.methods.agent_r.revision import (
        good_episode,
        good_paths,
        leaf_paths,
        locate_errors,
        select_pairs,
        splice,
    )
    from agentkit.methods.agent_r.search import Search, build_trees, close_trees
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
        training = {"samples": 0, "decisions": 0, "global_steps": 0, "train_loss": None, "loss_history": []}
    return {"round": k, "search": data, "replayed_demos": len(replayed), "train": training, "policy": str(policy)}
