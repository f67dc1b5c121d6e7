"""OREAL's prompts: procedural arithmetic problems in the packaged `arithmetic` benchmark's template."""

from __future__ import annotations

import functools
from typing import Any

from agentkit.methods.oreal.config import OrealConfig


@functools.cache
def arithmetic_task():
    """The packaged `arithmetic` benchmark task, loaded once (its prompt template is the one to train on)."""
    from agentkit.eval.tasks import get_task

    return get_task("arithmetic")


def prompt_messages(question: str) -> list[dict[str, str]]:
    """The `arithmetic` benchmark task's prompt, as one user message (as `generate_records` sends it)."""
    return [{"role": "user", "content": arithmetic_task().render_prompt({"question": question})}]


def warmup_chats(levels: list[int], per_level: int, style: str, seed: int) -> list[list[dict[str, str]]]:
    """Worked solutions of training problems as chats: the benchmark prompt, then the solution."""
    from agentkit.eval.arithmetic import generate_split

    rows = generate_split("train", levels=levels, per_level=per_level, seed=seed, style=style)
    return [[*prompt_messages(r["question"]), {"role": "assistant", "content": r["answer"]}] for r in rows]


def training_problems(config: OrealConfig) -> list[dict[str, Any]]:
    import random

    from agentkit.eval.arithmetic import generate_split

    d = config.data
    rows = generate_split("train", levels=d.levels, per_level=d.per_level, seed=d.seed, style=d.style)
    random.Random(config.seed).shuffle(rows)
    return rows


def step_problems(problems: list[dict[str, Any]], step: int, count: int, rank: int, world: int) -> list[dict]:
    """This rank's share of step `step`'s prompts, walking through the shuffled problems in order."""
    start = step * count + rank * (count // world)
    return [problems[(start + i) % len(problems)] for i in range(count // world)]


def build_warm_start(config: OrealConfig) -> str:
    """The SFT warm start on worked solutions of training problems (built once, cached by content)."""
    from agentkit.training.warmup import warm_start

    w = config.warmup
    return str(
        warm_start(
            f"arithmetic-sft-{w.preset}",
            chats=warmup_chats(w.levels, w.per_level, config.data.style, w.seed),
            seed=w.seed,
            cache_dir=config.cache_dir,
            progress=False,
            **w.training(),
        )
    )
