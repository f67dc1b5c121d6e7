"""URPO: one policy is both player and referee, and one GRPO loop trains both roles on mixed batches.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/urpo.py \
        --config recipes/configs/urpo_arithmetic.yaml [key=value ...]

Every batch mixes three kinds of prompts in fixed shares (`mix`), all in one chat format:
(a) verifiable: arithmetic word problems, rewarded by the math verifier;
(b) ranking: a prompt with candidates A, B, ... whose gold order is known (`agentkit.preferences`), the
    policy as referee replies `Ranking: B > A` and is rewarded by agreement with the gold order;
(c) open-ended: requests without a verifier; the policy answers a group as player, then scores each answer
    as referee under a fixed rubric (`Score: 7/10`), and those scores are the group's rewards.
GRPO's group-relative advantages are computed per prompt, so the three reward scales never mix. With
`referee.mode=frozen` the (c) scores come from a separate copy of the start model (the classic frozen
reward model) instead of the live policy: the baseline URPO is compared with.

Steps: (1) a warm start that has learnt the formats (arithmetic solutions, ranking and scoring replies),
(2) GRPO with LoRA through TRL, resumable from the last checkpoint, (3) held-out arithmetic pass@1 and
referee ranking accuracy of the start model and of the trained policy, (4) a run folder: adapter,
config.yaml, metrics.json, report.md and rewards.png.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentkit.config import parse_recipe_args, print_report, run_recipe, save_config
from agentkit.training.ranks import finish_training
from agentkit.training.sft import LoraSettings
from agentkit.training.warmup import WarmStartSettings

KINDS = ("verifiable", "ranking", "open")


@dataclass
class DataSettings:
    """Arithmetic problems come from the train split, evaluation from the test split (never shared); the
    warm start and GRPO get different train problems (`warmup_per_level`, then `train_per_level`).
    `preferences` (user JSONL) and `trajectories` (episodes) add ranking data to the arithmetic pairs."""

    levels: list[int] = field(default_factory=lambda: [1])
    warmup_per_level: int = 2000
    train_per_level: int = 500
    eval_per_level: int = 200
    eval_pairs_per_level: int = 200
    preferences: str | None = None
    trajectories: str | None = None


@dataclass
class MixSettings:
    """Shares of each kind of prompt in every batch (normalised; a zero leaves a kind out)."""

    verifiable: float = 0.4
    ranking: float = 0.4
    open: float = 0.2

    def __post_init__(self) -> None:
        shares = self.shares()
        if any(v < 0 for v in shares.values()) or sum(shares.values()) <= 0:
            raise ValueError(f"mix shares must be >= 0 with a positive sum, got {shares}")

    def shares(self) -> dict[str, float]:
        return {"verifiable": self.verifiable, "ranking": self.ranking, "open": self.open}


@dataclass
class WarmupSettings(WarmStartSettings):
    """The full fine-tune that teaches a fresh tiny model the formats, with the answers: gold rankings
    and rubric scores. `ranking_reply: audit` puts the referee's work before its verdict: each answer's
    disputed step copied, recomputed and marked (`A: 19 - 7 = 14, is 12, wrong`), then `Ranking: B > A`.
    Each part is then a short local step (copy a line, do one sum, compare two numbers, name the letter
    marked right), and the sum is the player's own arithmetic, so what RL teaches one role serves the
    other. Measured on held-out pairs: the verdict follows the line marked right 98% of the time (after
    a single `Check: 19 - 7 = 12` it agreed with that check 54% of the time), the copy is right 100%
    and the sum 81%, but the mark agrees with the two numbers it compares only ~49%: the tiny model has
    not learnt to compare them. `verdict` writes the ranking alone; `ranking_labels: random` gives random
    orders, so that any ranking skill comes from the RL step alone."""

    steps: int = 2000
    arithmetic: int = 2000
    ranking: int = 2000
    scoring: int = 600
    open: int = 400
    ranking_labels: Literal["gold", "random"] = "gold"
    ranking_reply: Literal["audit", "verdict"] = "audit"


@dataclass
class RefereeSettings:
    mode: Literal["self", "frozen"] = "self"
    ranking_metric: Literal["kendall", "top1"] = "top1"
    format_bonus: float = 0.2  # a well-formed but wrong ranking's reward (a broken reply earns 0)
    low: int = 0
    high: int = 10
    max_new_tokens: int = 64  # room for the audit lines before the verdict

    def __post_init__(self) -> None:
        if not 0 <= self.format_bonus < 1:
            raise ValueError(f"format_bonus={self.format_bonus} must be in [0, 1)")


@dataclass
class GRPOSettings:
    steps: int = 200
    prompts_per_step: int = 8
    num_generations: int = 4
    learning_rate: float = 1e-3
    max_completion_length: int = 64
    temperature: float = 1.0
    beta: float = 0.0
    logging_steps: int = 5
    save_steps: int = 20
    report_to: list[str] = field(default_factory=list)  # e.g. [tensorboard]: offline events under checkpoints/runs

    def __post_init__(self) -> None:
        if self.num_generations < 2:
            raise ValueError(f"num_generations={self.num_generations} must be >= 2 (advantages are group-relative)")
        if self.steps < 1 or self.prompts_per_step < 1:
            raise ValueError("steps and prompts_per_step must be >= 1")


@dataclass
class EvalSettings:
    max_new_tokens: int = 64
    batch_size: int = 32


@dataclass
class URPOConfig:
    model: str = "warmup"  # "warmup" builds the shared warm start; else a model folder that knows the formats
    output_dir: str = "runs/urpo"
    cache_dir: str = ".cache/agentkit"
    seed: int = 0
    threads: int | None = None  # torch's intra-op threads for the whole run (one is faster on a busy CPU)
    data: DataSettings = field(default_factory=DataSettings)
    mix: MixSettings = field(default_factory=MixSettings)
    warmup: WarmupSettings = field(default_factory=WarmupSettings)
    referee: RefereeSettings = field(default_factory=RefereeSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    grpo: GRPOSettings = field(default_factory=GRPOSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    skip_eval: bool = False


# ---- data ---------------------------------------------------------------------------------------------


def arithmetic_rows(config: URPOConfig, split: str, per_level: int) -> list[dict[str, Any]]:
    from agentkit.eval.arithmetic import generate_split

    return generate_split(split, levels=config.data.levels, per_level=per_level, seed=config.seed)


def open_request(question: str, level: int) -> str:
    """The open-ended request a word problem answers: `Tom has 3 apples. ...` -> a request about Tom and
    apples with that many steps."""
    words = question.split()
    return f"Write a word problem about {words[0]} and {words[3].rstrip('.')} with {level} steps."


def on_request(request: str, response: str) -> bool:
    """A rule-based check of an open-ended answer (used for warm-up labels and as a player metric): it
    names the requested person and items, has the requested number of steps and ends with a question."""
    words = request.split()
    name, items, level = words[5], words[7], int(words[9])
    sentences = [s for s in response.replace("?", ".").split(".") if s.strip()]
    return (
        response.startswith(f"{name} has ")
        and f" {items}." in response.split("?")[0]
        and response.rstrip().endswith("?")
        and len(sentences) == level + 2
    )


def train_problems(config: URPOConfig, stage: Literal["warmup", "rl"]) -> list[dict[str, Any]]:
    """The train problems of one stage, disjoint: per level, the warm start gets the first
    `warmup_per_level` and GRPO the next `train_per_level`. On problems the warm start has read, its
    replies are recalled (93% reward on them against 76% held-out pass@1), most groups then carry no
    advantage, and RL learns nothing that transfers."""
    data = config.data
    rows = arithmetic_rows(config, "train", data.warmup_per_level + data.train_per_level)
    part = slice(0, data.warmup_per_level) if stage == "warmup" else slice(data.warmup_per_level, None)
    return [row for level in data.levels for row in [r for r in rows if r["level"] == level][part]]


def preference_pool(config: URPOConfig, rows: Sequence[dict[str, Any]]) -> list:
    from agentkit.preferences import arithmetic_preferences, load_preferences, trajectory_preferences

    pool = arithmetic_preferences(rows, seed=config.seed)
    if config.data.preferences:
        pool += load_preferences(config.data.preferences)
    if config.data.trajectories:
        pool += trajectory_preferences(config.data.trajectories, seed=config.seed)
    return pool


def warmup_chats(config: URPOConfig) -> list[list[dict[str, str]]]:
    """Arithmetic solutions, open-ended answers, rankings (random or gold order) and rubric scores (a
    rule-based label: on request 8-10, another person's or items' problem 3-6, broken off 0-2)."""
    from agentkit.reward_models.referee import LETTERS, ranking_prompt, rubric_prompt

    settings = config.warmup
    rng = random.Random(f"urpo-warmup/{config.seed}")
    rows = train_problems(config, "warmup")
    pairs = preference_pool(config, rows)

    def chat(user: str, assistant: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]

    chats = [chat(f"Question: {r['question']}", r["answer"]) for r in rng.choices(rows, k=settings.arithmetic)]
    chats += [chat(open_request(r["question"], r["level"]), r["question"]) for r in rng.choices(rows, k=settings.open)]
    for pair in rng.choices(pairs, k=settings.ranking):
        order = list(pair.ranking) if settings.ranking_labels == "gold" else rng.sample(pair.ranking, len(pair.ranking))
        verdict = "Ranking: " + " > ".join(LETTERS[i] for i in order)
        work = audit_lines(pair) if settings.ranking_reply == "audit" else None
        reply = f"{work}\n{verdict}" if work else verdict
        chats.append(chat(ranking_prompt(pair.prompt, pair.responses), reply))
    high = config.referee.high
    for _ in range(settings.scoring):
        row, other = rng.sample(rows, 2)
        request = open_request(row["question"], row["level"])
        kind = rng.randrange(3)
        if kind == 0:
            response, score = row["question"], rng.randint(8 * high // 10, high)
        elif kind == 1 and not on_request(request, other["question"]):
            response, score = other["question"], rng.randint(3 * high // 10, 6 * high // 10)
        else:
            words = row["question"].split()
            response, score = " ".join(words[: rng.randint(1, len(words) // 2)]), rng.randint(0, 2 * high // 10)
        chats.append(chat(rubric_prompt(request, response, high=high), f"Score: {score}/{high}"))
    rng.shuffle(chats)
    return chats


def audit_lines(pair: Any) -> str | None:
    """The referee's work before its verdict: each answer's disputed step, its true result and whether
    the answer got it right (`A: 19 - 7 = 14, is 12, wrong`); None for answers without `a op b = c`
    steps (a trajectory or user pair), whose reply is the verdict alone."""
    from agentkit.preferences import disputed_steps, recompute
    from agentkit.reward_models.referee import LETTERS

    steps = disputed_steps(pair)
    if not steps:
        return None
    lines = []
    for letter, step in zip(LETTERS, steps, strict=False):
        true = recompute(step)
        lines.append(f"{letter}: {step}, is {true}, {'right' if step.endswith(f' = {true}') else 'wrong'}")
    return "\n".join(lines)


def resolve_model(config: URPOConfig) -> str:
    """`warmup` is built once and cached by content (same data and settings, same model)."""
    if config.model != "warmup":
        return config.model
    from agentkit.training.warmup import warm_start

    settings = config.warmup
    return str(
        warm_start(
            "urpo-arithmetic",
            chats=warmup_chats(config),
            seed=config.seed,
            cache_dir=config.cache_dir,
            **settings.training(),
        )
    )


def mix_batches(
    pools: dict[str, Sequence[Any]], shares: dict[str, float], per_batch: int, batches: int, seed: int = 0
) -> list[tuple[str, Any]]:
    """`batches` batches of `per_batch` (kind, item) pairs in order, each with the same count per kind:
    the shares by largest remainder (a kind with a positive share gets at least its rounded count). Each
    pool is drawn in a shuffled order and reshuffled when used up."""
    total = sum(shares.values())
    exact = {kind: per_batch * share / total for kind, share in shares.items()}
    counts = {kind: int(value) for kind, value in exact.items()}
    for kind in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: per_batch - sum(counts.values())]:
        counts[kind] += 1
    for kind, count in counts.items():
        if count and not pools.get(kind):
            raise ValueError(f"mix: the {kind!r} share is {shares[kind]} but there is no {kind} data")
    rng = random.Random(f"urpo-mix/{seed}")
    orders: dict[str, list[Any]] = {kind: [] for kind in counts}

    def draw(kind: str) -> Any:
        if not orders[kind]:
            orders[kind] = rng.sample(list(pools[kind]), len(pools[kind]))
        return orders[kind].pop()

    mixed: list[tuple[str, Any]] = []
    for _ in range(batches):
        batch = [(kind, draw(kind)) for kind, count in counts.items() for _ in range(count)]
        rng.shuffle(batch)
        mixed += batch
    return mixed


def to_row(kind: str, item: Any) -> dict[str, Any]:
    """One GRPO prompt row; every kind has every column so the data set has one schema."""
    from agentkit.reward_models.referee import ranking_prompt

    row = {"kind": kind, "answer": "", "ranking": [], "task": ""}
    if kind == "verifiable":
        text = f"Question: {item['question']}"
        row["answer"] = item["answer"]
    elif kind == "ranking":
        text = ranking_prompt(item.prompt, item.responses)
        row["ranking"] = list(item.ranking)
    else:
        text = row["task"] = item
    return {"prompt": [{"role": "user", "content": text}], **row}


def train_rows(config: URPOConfig) -> list[dict[str, Any]]:
    rows = train_problems(config, "rl")
    pools = {
        "verifiable": rows,
        "ranking": preference_pool(config, rows),
        "open": sorted({open_request(r["question"], r["level"]) for r in rows}),
    }
    mixed = mix_batches(pools, config.mix.shares(), config.grpo.prompts_per_step, config.grpo.steps, config.seed)
    return [to_row(kind, item) for kind, item in mixed]


# ---- training -----------------------------------------------------------------------------------------


def for_kind(kind: str, reward: Callable[..., list[float]]) -> Callable[..., list[float | None]]:
    """`reward` applied to the rows of one kind only (the others get None, which TRL skips), with every
    per-row column cut to those rows."""

    def reward_of_kind(completions: Sequence[Any], **columns: Any) -> list[float | None]:
        kinds = columns.pop("kind")
        rows = [i for i, k in enumerate(kinds) if k == kind]
        rewards: list[float | None] = [None] * len(completions)
        if rows:
            cut = {
                name: [value[i] for i in rows] if isinstance(value, list) and len(value) == len(completions) else value
                for name, value in columns.items()
            }
            for i, value in zip(rows, reward([completions[i] for i in rows], **cut), strict=True):
                rewards[i] = value
        return rewards

    reward_of_kind.__name__ = f"{kind}_{getattr(reward, '__name__', 'reward')}"
    return reward_of_kind


def grpo_args(config: URPOConfig, output_dir: Path, cpu: bool):
    from trl import GRPOConfig

    settings = config.grpo
    return GRPOConfig(
        output_dir=str(output_dir),
        max_steps=settings.steps,
        per_device_train_batch_size=settings.prompts_per_step * settings.num_generations,
        num_generations=settings.num_generations,
        learning_rate=settings.learning_rate,
        max_completion_length=settings.max_completion_length,
        temperature=settings.temperature,
        beta=settings.beta,
        shuffle_dataset=False,  # the rows are already in mixed batches
        logging_steps=settings.logging_steps,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=2,
        seed=config.seed,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=cpu,
        report_to=settings.report_to or "none",
        dataloader_num_workers=0,
    )


def train(config: URPOConfig, model_path: str, run_dir: Path, cpu: bool):
    """GRPO over the mixed batches; returns the trainer (its model is the trained policy) and figures."""
    from datasets import Dataset
    from trl import GRPOTrainer

    from agentkit.models import load_tokenizer
    from agentkit.reward_models.math_reward import math_reward
    from agentkit.reward_models.referee import Referee, make_ranking_reward, make_referee_reward
    from agentkit.training.checkpoints import train_resumably
    from agentkit.training.sft import peft_config

    settings = config.referee
    tokenizer = load_tokenizer(model_path)
    referee_kwargs = dict(low=settings.low, high=settings.high, max_new_tokens=settings.max_new_tokens)
    if settings.mode == "frozen":
        referee = Referee.frozen(model_path, **referee_kwargs)
    else:
        referee = Referee(None, tokenizer, **referee_kwargs)  # the policy itself, set once the trainer exists
    rewards = [
        for_kind("verifiable", math_reward),
        for_kind("ranking", make_ranking_reward(settings.ranking_metric, settings.format_bonus)),
        for_kind("open", make_referee_reward(referee)),
    ]
    checkpoints = run_dir / "checkpoints"
    trainer = GRPOTrainer(
        model=model_path,
        reward_funcs=rewards,
        args=grpo_args(config, checkpoints, cpu),
        train_dataset=Dataset.from_list(train_rows(config)),
        processing_class=tokenizer,
        peft_config=peft_config(config.lora),
    )
    if settings.mode == "self":
        referee.model = trainer.model
    started = time.perf_counter()
    result, _ = train_resumably(trainer)
    trainer.save_model(str(config.lora.output_folder(run_dir)))
    history = [entry for entry in trainer.state.log_history if "reward" in entry]
    figures = {
        "global_steps": result.global_step,
        "train_seconds": time.perf_counter() - started,
        "referee_replies": referee.replies,
        "referee_unparsed_scores": referee.unparsed,
        "history": history,
    }
    return trainer, referee, figures


# ---- evaluation ---------------------------------------------------------------------------------------


def evaluate(config: URPOConfig, model, tokenizer, scoring_referee=None) -> dict[str, Any]:
    """Greedy held-out figures of one model: arithmetic pass@1 (test split), ranking accuracy (top-1 on
    test-split pairs, unparsed counted wrong), share of open-ended answers on request (rule check), and the
    ranking accuracy of the referee that scores open-ended answers when that is another model."""
    from agentkit.preferences import arithmetic_preferences
    from agentkit.reward_models.math_reward import math_reward
    from agentkit.reward_models.referee import Referee, generate_replies, ranking_agreement

    problems = arithmetic_rows(config, "test", config.data.eval_per_level)
    replies = generate_replies(
        model,
        tokenizer,
        [f"Question: {p['question']}" for p in problems],
        max_new_tokens=config.eval.max_new_tokens,
        batch_size=config.eval.batch_size,
    )
    correct = math_reward(replies, [p["answer"] for p in problems])
    pairs = arithmetic_preferences(arithmetic_rows(config, "test", config.data.eval_pairs_per_level), config.seed)

    def ranking_accuracy(referee: Referee) -> tuple[float, int, float]:
        """Top-1 accuracy, unparsed replies, and the share of the parsed replies naming the referee's most
        frequent first choice (1.0: it names the same letter whatever the answers say)."""
        orders = referee.rank([p.prompt for p in pairs], [p.responses for p in pairs])
        hits = [ranking_agreement(o, p.ranking, "top1") for o, p in zip(orders, pairs, strict=True)]
        firsts = Counter(o[0] for o in orders if o is not None)
        same = max(firsts.values()) / sum(firsts.values()) if firsts else 0.0
        return sum(hits) / len(hits), sum(o is None for o in orders), same

    policy_referee = Referee(model, tokenizer, max_new_tokens=config.referee.max_new_tokens)
    accuracy, unparsed, same_choice = ranking_accuracy(policy_referee)
    # what naming one fixed letter every time would score: the bar a referee that reads nothing clears
    constant = max(Counter(p.ranking[0] for p in pairs).values()) / len(pairs)
    requests = sorted({open_request(p["question"], p["level"]) for p in problems})
    answers = generate_replies(model, tokenizer, requests, max_new_tokens=config.eval.max_new_tokens)
    figures = {
        "problems": len(problems),
        "pass_at_1": sum(correct) / len(correct),
        "pairs": len(pairs),
        "ranking_accuracy": accuracy,
        "ranking_unparsed": unparsed,
        "ranking_same_choice": same_choice,
        "ranking_constant_accuracy": constant,
        "open_on_request": sum(on_request(r, a) for r, a in zip(requests, answers, strict=True)) / len(requests),
    }
    figures["scoring_referee_accuracy"] = ranking_accuracy(scoring_referee)[0] if scoring_referee else accuracy
    return figures


def write_report(config: URPOConfig, run_dir: Path, training: dict[str, Any], start: dict, end: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = {"train": training, "start": start, "end": end}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    series = {
        kind: [
            (e["step"], e[k])
            for e in training["history"]
            for k in e
            if k.startswith(f"rewards/{kind}_") and k.endswith("/mean")
        ]
        for kind in KINDS
    }
    fig, ax = plt.subplots(figsize=(5, 3))
    for kind, points in series.items():
        if points:
            ax.plot(*zip(*points, strict=True), label=kind)
    ax.set_xlabel("step")
    ax.set_ylabel("mean reward")
    ax.set_title(f"URPO (referee: {config.referee.mode})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(run_dir / "rewards.png", dpi=120)
    plt.close(fig)
    rows = [
        ("arithmetic pass@1 (held-out)", "pass_at_1", "{:.1%}"),
        ("policy ranking accuracy (held-out pairs)", "ranking_accuracy", "{:.1%}"),
        ("unparsed rankings", "ranking_unparsed", "{}"),
        ("parsed rankings naming the most frequent letter first", "ranking_same_choice", "{:.1%}"),
        ("scoring referee ranking accuracy", "scoring_referee_accuracy", "{:.1%}"),
        ("open-ended answers on request", "open_on_request", "{:.1%}"),
    ]
    report = [
        f"# URPO on arithmetic (referee: {config.referee.mode})",
        "",
        f"Start model `{config.model}`, mix {config.mix.shares()}, {training['global_steps']} GRPO steps of "
        f"{config.grpo.prompts_per_step} prompts x {config.grpo.num_generations} completions, "
        f"{training['train_seconds']:.0f} s; referee scoring replies {training['referee_replies']}, "
        f"unparsed {training['referee_unparsed_scores']}.",
        "",
    ]
    if start:
        report += ["| measure | start | end |", "|---|---|---|"]
        report += [f"| {name} | {fmt.format(start[key])} | {fmt.format(end[key])} |" for name, key, fmt in rows]
    else:
        report.append("(evaluation skipped)")
    report.append("")
    (run_dir / "report.md").write_text("\n".join(report))


def check_resumable(config: URPOConfig, run_dir: Path) -> None:
    """A run folder with checkpoints is resumed, so its saved config must be this one: resuming a
    40-step run as a 100-step one would silently mix two experiments."""
    import yaml

    from agentkit.config import ConfigError, config_to_dict

    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file() or not any((run_dir / "checkpoints").glob("checkpoint-*")):
        return
    saved, current = yaml.safe_load(saved_path.read_text()), config_to_dict(config)

    def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
        if isinstance(old, dict) and isinstance(new, dict):
            keys = sorted(set(old) | set(new))
            return [d for k in keys for d in differences(old.get(k), new.get(k), f"{prefix}{k}.")]
        return [] if old == new else [f"{prefix.rstrip('.')}={new!r} (the run has {old!r})"]

    changed = [d for d in differences(saved, current) if not d.startswith("threads=")]
    if changed:
        raise ConfigError(
            f"output_dir {run_dir} holds checkpoints of a run with another config: {changed[0]}; "
            "use a new output_dir or delete the old run"
        )


def main(argv: list[str]) -> None:
    config = parse_recipe_args(URPOConfig, argv)  # a bad config fails before the slow imports
    import torch
    from accelerate import PartialState

    from agentkit.models import load_tokenizer

    cpu = not torch.accelerator.is_available()
    state = PartialState(cpu=cpu)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    run_dir = Path(config.output_dir)
    with state.main_process_first():  # rank 0 builds the warm start; the others then read it from the cache
        if state.is_main_process:
            check_resumable(config, run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, run_dir / "config.yaml")
        model_path = resolve_model(config)
    trainer, referee, training = train(config, model_path, run_dir, cpu)
    if not finish_training(state):
        return
    start = end = {}
    if not config.skip_eval:
        from transformers import AutoModelForCausalLM

        tokenizer = load_tokenizer(model_path)
        start_model = AutoModelForCausalLM.from_pretrained(model_path)
        start = evaluate(config, start_model, tokenizer)
        scoring = referee if config.referee.mode == "frozen" else None
        end = evaluate(config, trainer.accelerator.unwrap_model(trainer.model), tokenizer, scoring)
    training["model_path"] = model_path
    write_report(config, run_dir, training, start, end)
    print_report(run_dir)


if __name__ == "__main__":
    sys.exit(run_recipe("urpo", main, sys.argv[1:]))
