"""Held-out evaluation of an OREAL policy: greedy accuracy and unbiased pass@k."""

from __future__ import annotations

from typing import Any

from agentkit.methods.oreal.config import EvalConfig
from agentkit.methods.oreal.data import prompt_messages


def evaluate_policy(model: str, adapter: str | None, settings: EvalConfig, style: str, seed: int) -> dict[str, Any]:
    """Greedy accuracy and unbiased pass@k on held-out test problems, per level and overall."""
    from agentkit.eval.arithmetic import generate
    from agentkit.eval.metrics import pass_at_k
    from agentkit.reward_models.math_reward import math_reward
    from agentkit.rollout.backend import make_backend
    from agentkit.rollout.sampling import SamplingParams

    rows = [r for n in settings.levels for r in generate(n, settings.per_level, split="test", style=style)]
    prompts = [prompt_messages(r["question"]) for r in rows]
    answers = [r["answer"] for r in rows]
    with make_backend("hf", model, adapter, threads=settings.threads) as backend:
        greedy = backend.generate(prompts, SamplingParams(temperature=0.0, max_tokens=settings.max_tokens))
        e = settings
        sampled = backend.generate(prompts, SamplingParams(e.temperature, 1.0, e.max_tokens, e.samples, seed))
    greedy_ok = math_reward([c[0].text for c in greedy], answer=answers)
    counts = [
        int(sum(math_reward([c.text for c in group], answer=[a] * len(group))))
        for group, a in zip(sampled, answers, strict=True)
    ]

    def summary(indices: list[int]) -> dict[str, float]:
        out = {"greedy": sum(greedy_ok[i] for i in indices) / len(indices)}
        for k in settings.ks:
            out[f"pass@{k}"] = sum(pass_at_k(settings.samples, counts[i], k) for i in indices) / len(indices)
        return out

    by_level = {str(n): summary([i for i, r in enumerate(rows) if r["level"] == n]) for n in settings.levels}
    return {"problems": len(rows), **summary(list(range(len(rows)))), "by_level": by_level}
