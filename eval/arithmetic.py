"""A procedural multi-step arithmetic benchmark: the tiny-scale testbed for the reasoning recipes.

GSM8K is out of reach for a model of a few million parameters, so this benchmark keeps GSM8K's shape
(a word problem, a step-by-step solution ending in `#### n`, graded by the same grader) with a vocabulary
of a few dozen words. The level is the number of steps (1..5). Problems are a pure function of
(level, n, seed, style, split), and a problem's split is decided by a hash of its text, so train and test
never share a problem whatever seeds are used.

    Tom has 3 apples. He buys 4 more. Then he gives away 2. How many apples does Tom have now?
    Tom has 3 apples.
    He buys 4 more: 3 + 4 = 7.
    He gives away 2: 7 - 2 = 5.
    #### 5
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

LEVELS = (1, 2, 3, 4, 5)
SPLITS = ("train", "test")
STYLES = ("words", "expression")
TEST_SHARE = 5  # one problem in five belongs to the test split
PEOPLE = (("Tom", "He"), ("Sam", "He"), ("Ann", "She"), ("Mia", "She"))
ITEMS = ("apples", "pens", "books", "coins")
MAX_START = 20
MAX_ADD = 20
MAX_VALUE = 500  # keeps every intermediate result a short number

# op -> (symbol, sentence in a word problem)
_OPS = {
    "add": ("+", "{he} buys {n} more"),
    "sub": ("-", "{he} gives away {n}"),
    "mul": ("*", "{he} {times} them"),
    "div": ("/", "{he} puts them into {n} equal bags and keeps one bag"),
}
_TIMES = {2: "doubles", 3: "triples"}


def compute(symbol: str, left: int, right: int) -> int:
    """`left symbol right` as the problems and their solutions compute it (`/` keeps the whole part)."""
    return {"+": left + right, "-": left - right, "*": left * right, "/": left // right}[symbol]


def _apply(op: str, value: int, n: int) -> int:
    return compute(_OPS[op][0], value, n)


def _random_step(rng: random.Random, value: int) -> tuple[str, int]:
    """One operation that keeps the value a whole number between 1 and MAX_VALUE."""
    choices = ["add"]
    if value > 1:
        choices.append("sub")
    if value * 2 <= MAX_VALUE:
        choices.append("mul")
    divisors = [d for d in (2, 3, 4, 5) if value % d == 0]
    if divisors:
        choices.append("div")
    op = rng.choice(choices)
    if op == "add":
        return op, rng.randint(1, min(MAX_ADD, MAX_VALUE - value))
    if op == "sub":
        return op, rng.randint(1, value - 1)
    if op == "mul":
        return op, rng.choice([m for m in (2, 3) if value * m <= MAX_VALUE])
    return op, rng.choice(divisors)


def _words(rng: random.Random, start: int, steps: list[tuple[str, int]]) -> tuple[str, str]:
    name, he = rng.choice(PEOPLE)
    items = rng.choice(ITEMS)
    sentences = [f"{name} has {start} {items}."]
    lines = [f"{name} has {start} {items}."]
    value = start
    for index, (op, n) in enumerate(steps):
        action = _OPS[op][1].format(he=he, n=n, times=_TIMES.get(n))
        result = _apply(op, value, n)
        sentences.append(f"{'Then ' + action[0].lower() + action[1:] if index else action}.")
        lines.append(f"{action}: {value} {_OPS[op][0]} {n} = {result}.")
        value = result
    sentences.append(f"How many {items} does {name} have now?")
    return " ".join(sentences), "\n".join(lines + [f"#### {value}"])


def _expression(start: int, steps: list[tuple[str, int]]) -> tuple[str, str]:
    expression, value, lines = str(start), start, []
    for op, n in steps:
        symbol = _OPS[op][0]
        if symbol in "*/" and (" + " in expression or " - " in expression):
            expression = f"({expression})"
        expression = f"{expression} {symbol} {n}"
        result = _apply(op, value, n)
        lines.append(f"{value} {symbol} {n} = {result}")
        value = result
    return f"What is {expression}?", "\n".join(lines + [f"#### {value}"])


def _split_of(question: str) -> str:
    digest = hashlib.sha256(question.encode("utf-8")).digest()
    return "test" if int.from_bytes(digest[:4], "big") % TEST_SHARE == 0 else "train"


def generate(level: int, n: int, *, seed: int = 0, split: str = "test", style: str = "words") -> list[dict[str, Any]]:
    """n distinct problems of one level from one split, the same for the same arguments.

    Rows have `id`, `question`, `answer` (the worked solution ending in `#### n`) and `level`. Raises
    ValueError when the level's problem space holds fewer than n problems of that split.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(f"arithmetic/{style}/{level}/{seed}")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    attempts = 0
    max_attempts = 50 * n + 1000
    while len(rows) < n:
        attempts += 1
        if attempts > max_attempts:
            raise ValueError(
                f"level {level} ({style}) has too few distinct {split} problems for n={n}: found {len(rows)}"
            )
        start = rng.randint(2, MAX_START)
        steps, value = [], start
        for _ in range(level):
            op, operand = _random_step(rng, value)
            steps.append((op, operand))
            value = _apply(op, value, operand)
        question, answer = _words(rng, start, steps) if style == "words" else _expression(start, steps)
        if question in seen or _split_of(question) != split:
            continue
        seen.add(question)
        digest = hashlib.sha256(question.encode("utf-8")).hexdigest()[:12]
        rows.append({"id": f"arith-{style}-l{level}-{digest}", "question": question, "answer": answer,
                     "level": level})
    return rows


def generate_split(
    split: str = "test",
    *,
    levels: Sequence[int] = LEVELS,
    per_level: int = 100,
    seed: int = 0,
    style: str = "words",
) -> list[dict[str, Any]]:
    """`per_level` problems of each level, level by level: the rows of the `arithmetic` task."""
    return [row for level in levels for row in generate(level, per_level, seed=seed, split=split, style=style)]
