"""The in-policy referee of URPO: the policy itself ranks candidate answers and scores its own answers.

Two referee tasks, each a fixed prompt and a parser of the reply:

- ranking: a prompt and N candidates labelled A, B, ... -> `Ranking: B > A > C`; rewarded by agreement
  with the gold order (normalised Kendall tau, or exact top-1);
- scoring: a request and one response under a fixed rubric -> `Score: 7/10`; the parsed, validated and
  clipped score becomes the reward of that response in its group (the player's reward for open-ended
  prompts, which have no verifier).

A reply that does not parse never crashes anything: a ranking earns the referee 0, an unreadable score
gives its response the group's mean (no advantage either way, since the failure is the referee's, not the
player's); both are counted and logged. `Referee` wraps a model for the scoring: the trainer's own model
(the URPO referee) or `Referee.frozen(path)`, a separate copy of the start model (the baseline).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from agentkit.reward_models.math_reward import RewardFunc, completion_text

LETTERS = "ABCDEFGHIJ"
DEFAULT_RUBRIC = (
    "Score how well the response does what the request asks: on topic, complete and well formed. "
    "A response that ignores the request or breaks off scores low."
)
_RANKING = re.compile(r"Ranking:\s*([A-J](?:\s*>\s*[A-J])*)")
_SCORE = re.compile(r"Score:\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?")


def ranking_prompt(prompt: str, responses: Sequence[str]) -> str:
    """The referee's ranking task: the candidates labelled A, B, ... in the order given."""
    if not 2 <= len(responses) <= len(LETTERS):
        raise ValueError(f"ranking needs 2..{len(LETTERS)} responses, got {len(responses)}")
    parts = ["Rank the answers from best to worst.", f"Task: {prompt}"]
    parts += [f"Answer {LETTERS[i]}:\n{response}" for i, response in enumerate(responses)]
    parts.append("Reply as: Ranking: best > ... > worst")
    return "\n".join(parts)


def parse_ranking(text: str, n: int) -> list[int] | None:
    """`Ranking: B > A` -> [1, 0]; None unless the reply orders each of the first n letters exactly once."""
    match = _RANKING.search(text)
    if match is None:
        return None
    order = [LETTERS.index(letter.strip()) for letter in match.group(1).split(">")]
    return order if sorted(order) == list(range(n)) else None


def kendall_tau(predicted: Sequence[int], gold: Sequence[int]) -> float:
    """Kendall's tau in [-1, 1] between two orderings (best-first lists of the same indices)."""
    if sorted(predicted) != sorted(gold) or len(gold) < 2:
        raise ValueError(f"orderings {list(predicted)} and {list(gold)} must rank the same >= 2 items")
    position = {item: rank for rank, item in enumerate(predicted)}
    pairs = concordant = 0
    for i in range(len(gold)):
        for j in range(i + 1, len(gold)):  # gold ranks gold[i] above gold[j]
            pairs += 1
            concordant += position[gold[i]] < position[gold[j]]
    return (2 * concordant - pairs) / pairs


def ranking_agreement(predicted: Sequence[int] | None, gold: Sequence[int], metric: str = "kendall") -> float:
    """The referee's reward in [0, 1]: (tau + 1) / 2, or 1 for the right best answer (`top1`); 0 unparsed."""
    if predicted is None:
        return 0.0
    if metric == "top1":
        return float(predicted[0] == gold[0])
    if metric == "kendall":
        return (kendall_tau(predicted, gold) + 1) / 2
    raise ValueError(f"ranking metric must be 'kendall' or 'top1', got {metric!r}")


def rubric_prompt(prompt: str, response: str, *, high: int = 10, rubric: str = DEFAULT_RUBRIC) -> str:
    """The referee's scoring task for one response, always under the same rubric."""
    return f"{rubric}\nRequest: {prompt}\nResponse:\n{response}\nReply as: Score: n/{high}"


def parse_score(text: str, *, low: float = 0, high: float = 10) -> float | None:
    """`Score: 7/10` -> 7.0, clipped to [low, high]; None for no score, a non-finite number, or a scale
    other than `/high` (a `7/5` is not a 7 out of 10)."""
    match = _SCORE.search(text)
    if match is None:
        return None
    value = float(match.group(1))
    if not math.isfinite(value) or (match.group(2) is not None and float(match.group(2)) != high):
        return None
    return min(max(value, low), high)


def make_ranking_reward(metric: str = "kendall", format_bonus: float = 0.0) -> RewardFunc:
    """TRL `reward_funcs` form: completions are rankings, the `ranking` column the gold order.

    A reply that parses earns `format_bonus + (1 - format_bonus) * agreement`, one that does not earns 0.
    With a bonus of 0 a wrong but well-formed ranking earns the same 0 as a broken reply, so the group's
    advantages never say which broken replies to avoid (with two candidates, `A > A` stays as likely as
    `A > B`); a small bonus separates them while a right ranking still earns most."""
    ranking_agreement([0, 1], [0, 1], metric)  # an unknown metric fails here, not mid-training
    if not 0 <= format_bonus < 1:
        raise ValueError(f"format_bonus must be in [0, 1), got {format_bonus}")

    def ranking_reward(
        completions: Sequence[Any], ranking: Sequence[Sequence[int]], log_metric: Callable | None = None, **_: Any
    ) -> list[float]:
        parsed = [parse_ranking(completion_text(c), len(gold)) for c, gold in zip(completions, ranking, strict=True)]
        if log_metric is not None and parsed:
            log_metric("referee/unparsed_ranking", sum(p is None for p in parsed) / len(parsed))
        return [
            0.0 if p is None else format_bonus + (1 - format_bonus) * ranking_agreement(p, gold, metric)
            for p, gold in zip(parsed, ranking, strict=True)
        ]

    return ranking_reward


def generate_replies(model, tokenizer, user_texts: Sequence[str], *, max_new_tokens: int, batch_size: int = 32
                     ) -> list[str]:
    """Greedy replies to single-message chats, batched with left padding (the model's training mode is
    restored after)."""
    import torch

    was_training = model.training
    model.eval()
    replies: list[str] = []
    try:
        for start in range(0, len(user_texts), batch_size):
            chats = [[{"role": "user", "content": text}] for text in user_texts[start : start + batch_size]]
            prompts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats]
            encoded = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left",
                                add_special_tokens=False)
            with torch.no_grad():
                output = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False,
                                        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            new_tokens = output[:, encoded["input_ids"].shape[1]:]
            replies += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    finally:
        model.train(was_training)
    return replies


class Referee:
    """A model in the referee role. `model` may be swapped for the trainer's live model after the trainer
    is built (the URPO referee); the counters say how many replies were read and how many did not parse."""

    def __init__(self, model, tokenizer, *, low: int = 0, high: int = 10, rubric: str = DEFAULT_RUBRIC,
                 max_new_tokens: int = 12):
        if not low < high:
            raise ValueError(f"score range needs low < high, got {low}..{high}")
        self.model, self.tokenizer = model, tokenizer
        self.low, self.high, self.rubric, self.max_new_tokens = low, high, rubric, max_new_tokens
        self.replies = self.unparsed = 0

    @classmethod
    def frozen(cls, path: str, **kwargs: Any) -> Referee:
        """A separate, never-trained copy of the model at `path`: the classic frozen reward model."""
        from transformers import AutoModelForCausalLM

        from agentkit.models import load_tokenizer

        model = AutoModelForCausalLM.from_pretrained(path).eval().requires_grad_(False)
        return cls(model, load_tokenizer(path), **kwargs)

    def _ask(self, texts: Sequence[str]) -> list[str]:
        replies = generate_replies(self.model, self.tokenizer, texts, max_new_tokens=self.max_new_tokens)
        self.replies += len(replies)
        return replies

    def score(self, prompt: str, responses: Sequence[str]) -> list[float | None]:
        """Each response's rubric score in [low, high], None where the reply did not parse."""
        texts = [rubric_prompt(prompt, r, high=self.high, rubric=self.rubric) for r in responses]
        scores = [parse_score(reply, low=self.low, high=self.high) for reply in self._ask(texts)]
        self.unparsed += sum(s is None for s in scores)
        return scores

    def rank(self, prompts: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[list[int] | None]:
        """The referee's ranking of each prompt's candidates, None where the reply did not parse."""
        texts = [ranking_prompt(p, c) for p, c in zip(prompts, candidates, strict=True)]
        orders = [parse_ranking(reply, len(c)) for reply, c in zip(self._ask(texts), candidates, strict=True)]
        self.unparsed += sum(o is None for o in orders)
        return orders


def group_rewards(scores: Sequence[float | None], low: float, high: float) -> list[float]:
    """A group's rewards in [0, 1] from its referee scores: an unread score takes the mean of the read
    ones, and a group with none read gets 0 throughout (no signal)."""
    read = [s for s in scores if s is not None]
    fill = sum(read) / len(read) if read else low
    return [((fill if s is None else s) - low) / (high - low) for s in scores]


def make_referee_reward(referee: Referee) -> RewardFunc:
    """TRL `reward_funcs` form for open-ended prompts: the `task` column holds the request; consecutive
    completions of the same request form a group that the referee scores."""

    def referee_reward(
        completions: Sequence[Any], task: Sequence[str], log_metric: Callable | None = None, **_: Any
    ) -> list[float]:
        rewards: list[float] = []
        start = 0
        while start < len(completions):
            end = start
            while end < len(completions) and task[end] == task[start]:
                end += 1
            texts = [completion_text(c) for c in completions[start:end]]
            scores = referee.score(task[start], texts)
            if log_metric is not None:
                log_metric("referee/unparsed_score", sum(s is None for s in scores) / len(scores))
                read = [s for s in scores if s is not None]
                if read:
                    log_metric("referee/mean_score", sum(read) / len(read))
            rewards += group_rewards(scores, referee.low, referee.high)
            start = end
        return rewards

    return referee_reward
