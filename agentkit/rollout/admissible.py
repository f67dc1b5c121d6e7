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


def acted_last(prompt: Messages) -> bool:
    """Whether the prompt shows the agent's last reply and that reply named a command."""
    replies = [message["content"] for message in prompt if message["role"] == "assistant"]
    return bool(replies) and parse_action(replies[-1])[1] is not None


def sample_replies(
    backend: Backend,
    prompts: list[Messages],
    admissible: list[list[str] | None],
    prompt_format: PromptFormat,
    params: SamplingParams,
    action_space: ActionSpace = "admissible",
    extra_replies: tuple[str, ...] = (),
    thought_options: list[list[str] | None] | None = None,
) -> list[list[Completion]]:
    """`params.n` replies per prompt. `text`: generated. Otherwise each is `prompt_format.reply(command)`
    for a command drawn from that prompt's admissible commands by the model's log-probability of the
    reply (per token or whole, by `action_space`). One `reply_logprobs` call covers every prompt with a
    list; the others go to one `generate` call. `extra_replies` (whole reply texts, e.g. Agent-R's revision
    thought) compete with acting at all: each one's whole probability against the sum of the listed
    commands', and only when acting wins is the command drawn. Ranked per token beside the
    commands, a fixed reply the model has learnt by heart would win at every step. They are offered only
    where the prompt shows the agent's last reply and it named a command (`acted_last`): a revision revises
    an action, and one offered after another traps the agent in revising (measured: 64 of 200 episodes).

    With thoughts, the model first writes its reply as usual; its thought is kept and the command is then
    drawn by the probability of `Thought: <that thought>\nAction: <command>`, so it acts on its reasoning.
    When the env offers thoughts (`thought_options[i]`, see `PromptFormat.thought_options`) the model
    chooses one instead of writing it: each offered thought by its probability with any of the commands
    (per token of its replies with `admissible`, as commands are ranked), then the command given it. A small
    model copies a long sentence badly when it writes it.
    """
    if action_space == "text":
        return backend.generate(prompts, params)
    offered = thought_options or [None] * len(prompts)
    listed = [i for i, commands in enumerate(admissible) if commands]
    free = [i for i, commands in enumerate(admissible) if not commands]
    results: list[list[Completion]] = [[] for _ in prompts]
    written = [i for i in listed if prompt_format.thoughts and not offered[i]]  # the model writes these thoughts
    to_generate = free + written
    generated = backend.generate([prompts[i] for i in to_generate], params) if to_generate else []
    for i, completions in zip(free, generated, strict=False):
        results[i] = completions
    if not listed:
        return results
    # Scoring rows, each (prompt, thought): one per prompt without thoughts, one per written thought (n per
    # prompt, one draw each), one per offered thought (the n draws choose among them).
    writes = set(written)
    rows = [(i, thought) for i in listed if i not in writes for thought in (offered[i] or [None])]
    rows += [(i, parse_action(c.text)[0]) for i, cs in zip(written, generated[len(free) :], strict=True) for c in cs]
    replies = [[prompt_format.reply(command, thought) for command in admissible[i]] for i, thought in rows]
    row_prompts = [prompts[i] for i, _ in rows]
    groups: dict[int, list[int]] = {}
    for k, (i, _) in enumerate(rows):
        groups.setdefault(i, []).append(k)
    # The extra replies depend on the prompt only: scored once, on its first row.
    firsts = {group[0] for group in groups.values()}
    to_score = [[*options, *extra_replies] if k in firsts else options for k, options in enumerate(replies)]
    scored = backend.reply_logprobs(row_prompts, to_score)
    extra_whole = {i: [total for total, _ in scored[group[0]][len(replies[group[0]]) :]] for i, group in groups.items()}
    scored = [row[: len(options)] for row, options in zip(scored, replies, strict=True)]
    whole = [[total for total, _ in row] for row in scored]
    ranks = [[total / length if action_space == "admissible" else total for total, length in row] for row in scored]
    # A row's mass: its thought with any of the commands. Offered thoughts are ranked by it, per token of
    # the row's replies (its mass over their mean length) under `admissible`, as commands are.
    masses = [log_sum_exp(row) for row in whole]
    thought_ranks = [
        mass / (sum(length for _, length in row) / len(row)) if action_space == "admissible" else mass
        for mass, row in zip(masses, scored, strict=True)
    ]
    rng = random.Random(params.seed)

    def choose(group: list[int], extras: list[float]) -> Completion:
        """One reply from a prompt's rows: an extra reply (`extras`: their whole log-probabilities, empty
        when none is offered), or an offered thought and then a command."""
        if extras:  # first: act (every listed reply's whole mass) or say one of the extra replies
            pick = draw([log_sum_exp([masses[k] for k in group]), *extras], params, rng)
            if pick:
                return Completion(extra_replies[pick - 1])
        k = group[draw([thought_ranks[k] for k in group], params, rng)] if len(group) > 1 else group[0]
        return Completion(replies[k][draw(ranks[k], params, rng)])

    for i, group in groups.items():
        draws = [[k] for k in group] if i in writes else [group] * params.n
        extras = extra_whole[i] if acted_last(prompts[i]) else []
        results[i] = [choose(candidates, extras) for candidates in draws]
    return results
