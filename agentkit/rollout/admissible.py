"""A model policy over the env's admissible commands instead of free text.

Text games list the commands that are valid in the current state (TextWorld, TextCraft). A small model
that writes its command token by token often writes one that is not among them, or the same one in every
state; scoring each admissible command as the model's whole reply and drawing from those scores keeps
every action valid and lets any model, however weak, act on the state it sees. This is how classic
text-game agents choose (e.g. DRRN scores the admissible commands), and how a language-model policy is
searched over a finite action set. Prompts without a list are answered by ordinary generation.
"""

from __future__ import annotations

import math
import random
from typing import Literal

from agentkit.prompts import PromptFormat
from agentkit.rollout.backend import Backend, Messages
from agentkit.rollout.sampling import Completion, SamplingParams

ActionSpace = Literal["text", "admissible"]
ACTION_SPACES = ("text", "admissible")


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


def choose_replies(
    backend: Backend,
    prompts: list[Messages],
    admissible: list[list[str] | None],
    prompt_format: PromptFormat,
    params: SamplingParams,
) -> list[list[Completion]]:
    """`params.n` replies per prompt, each `prompt_format.reply(command)` for a command drawn from that
    prompt's admissible commands by the model's probability of the reply. One `score` call covers every
    prompt with a list; the others go to one `generate` call."""
    if prompt_format.thoughts:
        raise ValueError("action_space=admissible scores bare `Action:` replies; it needs prompt.thoughts=false")
    listed = [i for i, commands in enumerate(admissible) if commands]
    free = [i for i, commands in enumerate(admissible) if not commands]
    results: list[list[Completion]] = [[] for _ in prompts]
    if free:
        for i, completions in zip(free, backend.generate([prompts[i] for i in free], params), strict=True):
            results[i] = completions
    if listed:
        replies = [[prompt_format.reply(command) for command in admissible[i]] for i in listed]
        scores = backend.score([prompts[i] for i in listed], replies)
        rng = random.Random(params.seed)
        for i, options, row in zip(listed, replies, scores, strict=True):
            picks = [draw(row, params, rng) for _ in range(params.n)]
            results[i] = [Completion(options[k]) for k in picks]
    return results
