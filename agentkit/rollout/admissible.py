"""A model policy over the env's admissible commands instead of free text.

Text games list the commands that are valid in the current state (TextWorld, TextCraft). A small model
that writes its command token by token often writes one that is not among them, or the same one in every
state; scoring each admissible command as the model's whole reply and drawing from those scores keeps
every action valid and lets any model, however weak, act on the state it sees. This is how classic
text-game agents choose (e.g. DRRN scores the admissible commands), and how a language-model policy is
searched over a finite action set. Prompts without a list are answered by ordinary generation; with
thoughts, the model writes its thought and the command is drawn given it.
"""

from __future__ import annotations

import math
import random
from typing import Literal, get_args

from agentkit.prompts import PromptFormat, parse_action
from agentkit.rollout.backend import Backend, Messages
from agentkit.rollout.sampling import Completion, SamplingParams

# `admissible` ranks commands by their mean log-probability per token, as multiple-choice evaluations
# normalise by length (lm-eval-harness's acc_norm); `admissible_sum` by the whole reply's log-probability,
# the policy's own distribution, which a weak model bends towards the shortest command (a tiny TextCraft
# model that ranks by the sum picks `inventory` at every step).
ActionSpace = Literal["text", "admissible", "admissible_sum"]
ACTION_SPACES: tuple[str, ...] = get_args(ActionSpace)


def check_action_space(value: str) -> None:
    if value not in ACTION_SPACES:
        raise ValueError(f"action_space={value!r} must be one of {', '.join(ACTION_SPACES)}")


def log_sum_exp(values: list[float]) -> float:
    """log(sum(exp(v))) without underflow: the log-probability of any one of several replies."""
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def draw(scores: list[float], params: SamplingParams, rng: random.Random) -> int:
    """An index: the best score when greedy, else a draw from softmax(scores / temperature) cut to the
    smallest set whose mass reaches `top_p`."""
    if params.greedy:
        return max(range(len(scores)), key=scores.__getitem__)
    top = max(scores)
    weights = [math.exp((score - top) / params.temperature) for score in scores]
    order = sorted(range(len(scores)), key=weights.__getitem__, reverse=True)
    total, kept, mass = sum(weights), [], 0.0
    for index in order:
        kept.append(index)
        mass += weights[index] / total
        if mass >= params.top_p:
            break
    return rng.choices(kept, weights=[weights[i] for i in kept])[0]


def sample_replies(
    backend: Backend,
    prompts: list[Messages],
    admissible: list[list[str] | None],
    prompt_format: PromptFormat,
    params: SamplingParams,
    action_space: ActionSpace = "admissible",
    extra_replies: tuple[str, ...] = (),
) -> list[list[Completion]]:
    """`params.n` replies per prompt. `text`: generated. Otherwise each is `prompt_format.reply(command)`
    for a command drawn from that prompt's admissible commands by the model's log-probability of the
    reply (per token or whole, by `action_space`). One `score` call covers every prompt with a list; the
    others go to one `generate` call. `extra_replies` (whole reply texts, e.g. Agent-R's revision thought)
    compete with acting at all: each one's whole probability against the sum of the listed commands' (a
    second `score` call), and only when acting wins is the command drawn. Ranked per token beside the
    commands, a fixed reply the model has learnt by heart would win at every step.

    With thoughts, the model first writes its reply as usual; its thought is kept and the command is then
    drawn by the probability of `Thought: <that thought>\nAction: <command>`, so it acts on its reasoning.
    """
    if action_space == "text":
        return backend.generate(prompts, params)
    listed = [i for i, commands in enumerate(admissible) if commands]
    free = [i for i, commands in enumerate(admissible) if not commands]
    results: list[list[Completion]] = [[] for _ in prompts]
    to_generate = free + (listed if prompt_format.thoughts else [])  # with thoughts: each listed prompt's thought
    generated = backend.generate([prompts[i] for i in to_generate], params) if to_generate else []
    for i, completions in zip(free, generated, strict=False):
        results[i] = completions
    if not listed:
        return results
    # One scoring row per (prompt, reply): n rows per prompt with thoughts (one per thought), else one.
    rows = [(i, None) for i in listed]
    if prompt_format.thoughts:
        rows = [(i, parse_action(c.text)[0]) for i, cs in zip(listed, generated[len(free) :], strict=True) for c in cs]
    replies = [[prompt_format.reply(command, thought) for command in admissible[i]] for i, thought in rows]
    row_prompts = [prompts[i] for i, _ in rows]
    scores = backend.score(row_prompts, replies, per_token=action_space == "admissible")
    if extra_replies:
        totals = backend.score(row_prompts, [[*options, *extra_replies] for options in replies], per_token=False)
    rng = random.Random(params.seed)
    per_row = 1 if prompt_format.thoughts else params.n
    for k, ((i, _), options, row) in enumerate(zip(rows, replies, scores, strict=True)):
        for _ in range(per_row):
            if extra_replies:  # first: act (the listed commands' whole mass) or say one of the extra replies
                acting = log_sum_exp(totals[k][: len(options)])
                pick = draw([acting, *totals[k][len(options) :]], params, rng)
                if pick:
                    results[i].append(Completion(extra_replies[pick - 1]))
                    continue
            results[i].append(Completion(options[draw(row, params, rng)]))
    return results
