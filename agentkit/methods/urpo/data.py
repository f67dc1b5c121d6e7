"""URPO's three kinds of prompts: verifiable arithmetic, ranking pairs and open-ended requests, and the
warm start that teaches a fresh model their formats."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Literal

from agentkit.methods.urpo.config import URPOConfig


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
    from agentkit.methods.urpo.preferences import arithmetic_preferences, load_preferences, trajectory_preferences

    pool = arithmetic_preferences(rows, seed=config.seed)
    if config.data.preferences:
        pool += load_preferences(config.data.preferences)
    if config.data.trajectories:
        pool += trajectory_preferences(config.data.trajectories, seed=config.seed)
    return pool


def warmup_chats(config: URPOConfig) -> list[list[dict[str, str]]]:
    """Arithmetic solutions, open-ended answers, rankings (random or gold order) and rubric scores (a
    rule-based label: on request 8-10, another person's or items' problem 3-6, broken off 0-2)."""
    from agentkit.methods.urpo.referee import LETTERS, ranking_prompt, rubric_prompt

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
    from agentkit.methods.urpo.preferences import disputed_steps, recompute
    from agentkit.methods.urpo.referee import LETTERS

    steps = disputed_steps(pair)
    if not steps:
        return None
    lines = []
    for letter, step in zip(LETTERS, steps, strict=False):
        true = recompute(step)
        lines.append(f"{letter}: {step}, is {true}, {'right' if step.endswith(f' = {true}') else 'wrong'}")
    return "\n".join(lines)


def build_warm_start(config: URPOConfig) -> str:
    """The warm start that knows the formats, built once and cached by content (same data and settings,
    same model)."""
    from agentkit.training.warmup import warm_start

    return str(
        warm_start(
            "urpo-arithmetic",
            chats=warmup_chats(config),
            seed=config.seed,
            cache_dir=config.cache_dir,
            **config.warmup.training(),
        )
    )
