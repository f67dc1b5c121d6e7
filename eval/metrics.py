"""Benchmark metrics over items with one or several graded completions each.

pass@k uses the unbiased estimator of Chen et al. (2021): from n samples of which c are correct, the
chance that at least one of k samples drawn without replacement is correct. maj@k votes over the first k
completions' extracted answers (equal answers pooled by the task's equivalence; a tie goes to the answer
seen first; completions without an answer do not vote).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ItemResult:
    """The graded completions of one benchmark item."""

    reference: str
    extracted: list[str | None]
    correct: list[bool]
    tokens: list[int] | None = None  # completion lengths in tokens, when known
    group: str | None = None  # e.g. the arithmetic level, for per-group accuracy


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k: 1 - C(n-c, k) / C(n, k), computed as a stable product."""
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def majority_answer(answers: Sequence[str | None], equivalent: Callable[[str, str], bool]) -> str | None:
    """The most common answer (pooled by `equivalent`); ties go to the answer seen first."""
    pools: list[list[str]] = []
    for answer in answers:
        if answer is None:
            continue
        for pool in pools:
            if equivalent(answer, pool[0]):
                pool.append(answer)
                break
        else:
            pools.append([answer])
    if not pools:
        return None
    return max(pools, key=len)[0]  # max keeps the first of equal lengths


def ks_for(metrics: Sequence[str], kind: str, n: int) -> list[int]:
    """The k values of `kind@k` metrics possible with n completions: `kind@k` means 1, 2, 4, ... and n."""
    ks: set[int] = set()
    for metric in metrics:
        name, _, k = metric.partition("@")
        if name != kind:
            continue
        if k == "k":
            ks |= {2**i for i in range(n.bit_length())} | {n}
        elif int(k) <= n:
            ks.add(int(k))
    return sorted(ks)


def summarize(
    items: Sequence[ItemResult], metrics: Sequence[str], equivalent: Callable[[str, str], bool]
) -> dict[str, float | int | None | dict]:
    """The requested metrics over all items, averaged per item (so every item weighs the same)."""
    if not items:
        raise ValueError("cannot summarize zero items")
    n = min(len(item.correct) for item in items)
    summary: dict[str, float | int | None | dict] = {
        "items": len(items),
        "completions_per_item": n if all(len(item.correct) == n for item in items) else None,
        "no_answer_rate": _mean([_mean([a is None for a in item.extracted]) for item in items]),
    }
    if "accuracy" in metrics:
        summary["accuracy"] = _mean([_mean(item.correct) for item in items])
    for k in ks_for(metrics, "pass", n):
        summary[f"pass@{k}"] = _mean([pass_at_k(len(item.correct), sum(item.correct), k) for item in items])
    for k in ks_for(metrics, "maj", n):
        votes = [majority_answer(item.extracted[:k], equivalent) for item in items]
        summary[f"maj@{k}"] = _mean(
            [vote is not None and equivalent(vote, item.reference) for vote, item in zip(votes, items, strict=True)]
        )
    if "mean_completion_tokens" in metrics:
        counted = [item.tokens for item in items if item.tokens is not None]
        lengths = [_mean(tokens) for tokens in counted if tokens]  # an item whose requests all failed has none
        summary["mean_completion_tokens"] = _mean(lengths) if lengths and len(counted) == len(items) else None
    groups = sorted({item.group for item in items if item.group is not None})
    if groups:
        summary["accuracy_by_group"] = {
            group: _mean([_mean(item.correct) for item in items if item.group == group]) for group in groups
        }
    return summary


def _mean(values: Sequence[float | bool | int]) -> float:
    return sum(values) / len(values) if values else 0.0
