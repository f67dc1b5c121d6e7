"""URPO's mixed batches: every batch holds each kind of prompt in fixed shares, and each reward function
scores only its own kind's rows."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from agentkit.methods.urpo.config import URPOConfig
from agentkit.methods.urpo.data import open_request, preference_pool, train_problems


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
    from agentkit.methods.urpo.referee import ranking_prompt

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
