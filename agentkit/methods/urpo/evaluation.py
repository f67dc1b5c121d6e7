"""Held-out figures of a URPO policy as player (arithmetic, open-ended answers) and as referee (ranking)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from agentkit.methods.urpo.config import URPOConfig
from agentkit.methods.urpo.data import arithmetic_rows, on_request, open_request


def evaluate(config: URPOConfig, model, tokenizer, scoring_referee=None) -> dict[str, Any]:
    """Greedy held-out figures of one model: arithmetic pass@1 (test split), ranking accuracy (top-1 on
    test-split pairs, unparsed counted wrong), share of open-ended answers on request (rule check), and the
    ranking accuracy of the referee that scores open-ended answers when that is another model."""
    from agentkit.methods.urpo.preferences import arithmetic_preferences
    from agentkit.methods.urpo.referee import Referee, generate_replies, ranking_agreement
    from agentkit.reward_models.math_reward import math_reward

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


def evaluate_start_and_end(config: URPOConfig, start_model: str, trainer, referee) -> tuple[dict, dict]:
    """The start model's and the trained policy's held-out figures (the frozen referee's too, when it
    scored the open-ended answers)."""
    from transformers import AutoModelForCausalLM

    from agentkit.models import load_tokenizer

    tokenizer = load_tokenizer(start_model)
    start = evaluate(config, AutoModelForCausalLM.from_pretrained(start_model), tokenizer)
    scoring = referee if config.referee.mode == "frozen" else None
    end = evaluate(config, trainer.accelerator.unwrap_model(trainer.model), tokenizer, scoring)
    return start, end
