"""The verifiable math reward (1 for a correct final answer, else 0) that OREAL and URPO train against.

`math_reward` has the signature TRL's trainers call `reward_funcs` with: `completions` (strings, or
conversational lists of messages) plus the data set's columns as keyword lists, here `answer` (a GSM8K
solution ending in `#### n`, a `\\boxed{}` solution, or a bare answer). The project's own loops call it
the same way. `make_math_reward` adds an optional format term.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from agentkit.eval.grader import EXPLICIT_METHODS, METHODS, check_methods, extract, is_equivalent, reference_answer

RewardFunc = Callable[..., list[float]]


def completion_text(completion: str | Sequence[dict[str, Any]]) -> str:
    """The text of a completion: a string as is, or the content of the last message of a conversation."""
    if isinstance(completion, str):
        return completion
    if not completion:
        return ""
    content = completion[-1].get("content") or ""
    if isinstance(content, list):  # multimodal message parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content


def make_math_reward(
    *,
    format_weight: float = 0.0,
    format_pattern: str | None = None,
    methods: Sequence[str] = METHODS,
    symbolic: bool = True,
) -> RewardFunc:
    """A math reward: 1.0 for a correct answer, plus `format_weight` for a well-formed completion.

    Well-formed means it matches `format_pattern` (a regex searched with DOTALL), or, without a pattern,
    that it states its answer explicitly (a `####` line, a `\\boxed{}` or an answer cue), not only as a
    trailing number. `methods` and `symbolic` are passed to the grader.
    """
    methods = check_methods(methods)
    pattern = re.compile(format_pattern, re.DOTALL) if format_pattern is not None else None

    def well_formed(text: str) -> bool:
        if pattern is not None:
            return pattern.search(text) is not None
        return extract(text, methods).method in EXPLICIT_METHODS

    def math_reward(completions: Sequence[Any], answer: Sequence[str], **kwargs: Any) -> list[float]:
        if len(completions) != len(answer):
            raise ValueError(f"math_reward: {len(completions)} completions but {len(answer)} answers")
        rewards = []
        for completion, gold in zip(completions, answer, strict=True):
            text = completion_text(completion)
            correct = is_equivalent(extract(text, methods).answer, reference_answer(gold), symbolic=symbolic)
            bonus = format_weight if format_weight and well_formed(text) else 0.0
            rewards.append(float(correct) + bonus)
        return rewards

    math_reward.__name__ = "math_reward" if not format_weight else "math_format_reward"  # TRL logs by name
    return math_reward


math_reward: RewardFunc = make_math_reward()
