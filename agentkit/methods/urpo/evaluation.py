"""Held-out figures of a URPO policy as player (arithmetic, open-ended answers) and as referee (ranking)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from agentkit.methods.urpo.config import URPOConfig
from agentkit.methods.urpo.data import arithmetic_rows, on_request, open_request


def evaluate(config: URPOConfig, model, tokenizer, scoring_referee=None) -> dict[str, Any]:
    """Greedy held-out figures of one model: arithmetic pass@1 (test split), ranking accuracy (top-1 on
    test-split pairs, each shown in both orders; unparsed counted wrong, and among parsed replies), share of
    open-ended answers on request (rule check), and the ranking accuracy of the referee that scores
    open-ended answers when that is another model."""
    from agentkit.methods.urpo.preferences import arithmetic_preferences, both_orders
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
    rows = arithmetic_rows(config, "test", config.data.eval_pairs_per_level)
    pairs = both_orders(arithmetic_preferences(rows, config.seed))

    def ranking_accuracy(referee: Referee) -> dict[str, float]:
        """Top-1 accuracy (unparsed replies wrong) and among parsed replies, unparsed replies, the share of
        parsed replies naming the referee's most frequent first choice (1.0: the same letter whatever the
        answers say), and the share of pairs whose better response it picks in both orders."""
        orders = referee.rank([p.prompt for p in pairs], [p.responses for p in pairs])
        hits = [ranking_agreement(o, p.ranking, "top1") for o, p in zip(orders, pairs, strict=True)]
        parsed = [hit for hit, order in zip(hits, orders, strict=True) if order is not None]
        firsts = Counter(o[0] for o in orders if o is not None)
        return {
            "ranking_accuracy": sum(hits) / len(hits),
            "ranking_parsed_accuracy": sum(parsed) / len(parsed) if parsed else 0.0,
            "ranking_unparsed": len(hits) - len(parsed),
            "ranking_same_choice": max(firsts.values()) / sum(firsts.values()) if firsts else 0.0,
            "ranking_both_orders": sum(hits[i] and hits[i + 1] for i in range(0, len(hits), 2)) / (len(hits) // 2),
        }

    policy_referee = Referee(model, tokenizer, max_new_tokens=config.referee.max_new_tokens)
    ranking = ranking_accuracy(policy_referee)
    # what naming one fixed letter every time scores (0.5 on pairs in both orders): the bar of reading nothing
    constant = max(Counter(p.ranking[0] for p in pairs).values()) / len(pairs)
    requests = sorted({open_request(p["question"], p["level"]) for p in problems})
    answers = generate_replies(model, tokenizer, requests, max_new_tokens=config.eval.max_new_tokens)
    figures = {
        "problems": len(problems),
        "pass_at_1": sum(correct) / len(correct),
        "pairs": len(pairs) // 2,  # distinct pairs; each is ranked twice, once in each order
        "rankings": len(pairs),
        **ranking,
        "ranking_constant_accuracy": constant,
        "open_on_request": sum(on_request(r, a) for r, a in zip(requests, answers, strict=True)) / len(requests),
    }
    scoring = ranking_accuracy(scoring_referee) if scoring_referee else ranking
    figures["scoring_referee_accuracy"] = scoring["ranking_accuracy"]
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
