"""Offline preference data with a known order: what the in-policy referee learns to rank.

One record is a prompt, N >= 2 candidate responses and the gold `ranking` (indices into `responses`, best
first). Three sources, all turned into `Preference` records:

- arithmetic: a correct worked solution against the same solution with one step's result changed (the
  later steps recomputed from the wrong value); the verifier confirms which is correct, so the order is
  known without a judge;
- agent trajectories: a successful against a failed episode of the same task from a trajectory file;
- a user JSONL file, one object per line, in either form:

      {"prompt": "...", "chosen": "...", "rejected": "..."}
      {"prompt": "...", "responses": ["...", "...", "..."], "ranking": [2, 0, 1]}

  `ranking` lists every index of `responses` once, best first. Unknown keys are an error (a misspelled
  key would otherwise drop data silently); an optional `"source"` string labels the record.

Every malformed line raises `PreferenceError` naming `file:line` and the field.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkit.errors import AgentkitError
from agentkit.eval.arithmetic import compute
from agentkit.jsonl import json_lines

_STEP = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")
_FINAL = re.compile(r"#### (-?\d+)\s*$")
_PAIR_KEYS = {"prompt", "chosen", "rejected", "source"}
_RANKED_KEYS = {"prompt", "responses", "ranking", "source"}


class PreferenceError(AgentkitError, ValueError):
    """A malformed preference record; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Preference:
    prompt: str
    responses: tuple[str, ...]
    ranking: tuple[int, ...]  # indices into `responses`, best first
    source: str = "user"

    def __post_init__(self) -> None:
        problem = _ranking_problem(list(self.ranking), len(self.responses))
        if problem:
            raise PreferenceError(f"ranking {list(self.ranking)}: {problem}")


def _ranking_problem(ranking: list[Any], n: int) -> str | None:
    if n < 2:
        return f"needs at least 2 responses, got {n}"
    if any(not isinstance(i, int) or isinstance(i, bool) for i in ranking):
        return "must be a list of integer indices"
    if sorted(ranking) != list(range(n)):
        return f"must list each index 0..{n - 1} exactly once"
    return None


def _text_field(record: dict, key: str, where: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PreferenceError(f"{where}: field {key!r} must be a non-empty string, got {value!r}")
    return value


def parse_record(record: Any, where: str) -> Preference:
    """One user record in either form, validated; `where` (file:line) prefixes every error."""
    if not isinstance(record, dict):
        raise PreferenceError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    keys = _PAIR_KEYS if "chosen" in record or "rejected" in record else _RANKED_KEYS
    unknown = sorted(set(record) - keys)
    if unknown:
        raise PreferenceError(f"{where}: unknown field {unknown[0]!r}; expected {', '.join(sorted(keys))}")
    prompt = _text_field(record, "prompt", where)
    source = record.get("source", "user")
    if not isinstance(source, str):
        raise PreferenceError(f"{where}: field 'source' must be a string, got {source!r}")
    if keys is _PAIR_KEYS:
        chosen, rejected = _text_field(record, "chosen", where), _text_field(record, "rejected", where)
        return Preference(prompt, (chosen, rejected), (0, 1), source)
    responses = record.get("responses")
    if not isinstance(responses, list) or len(responses) < 2:
        raise PreferenceError(f"{where}: field 'responses' must be a list of at least 2 strings, got {responses!r}")
    for index, response in enumerate(responses):
        if not isinstance(response, str) or not response.strip():
            raise PreferenceError(f"{where}: field 'responses[{index}]' must be a non-empty string")
    ranking = record.get("ranking")
    if not isinstance(ranking, list):
        raise PreferenceError(f"{where}: field 'ranking' must be a list of indices, got {ranking!r}")
    problem = _ranking_problem(ranking, len(responses))
    if problem:
        raise PreferenceError(f"{where}: field 'ranking' {ranking!r} {problem}")
    return Preference(prompt, tuple(responses), tuple(ranking), source)


def load_preferences(path: str | Path) -> list[Preference]:
    """Every record of a user JSONL file; the first bad line raises `PreferenceError`."""
    path = Path(path)
    if not path.is_file():
        raise PreferenceError(f"preference file not found: {path}")
    preferences = []
    for where, record, error in json_lines(path):
        if error:
            raise PreferenceError(f"{where}: {error}")
        preferences.append(parse_record(record, where))
    return preferences


def perturb_solution(solution: str, rng: random.Random) -> str | None:
    """The solution with one step's result off by 1-3 and every later step recomputed from it; None when
    the solution has no `a op b = c` step."""
    lines = solution.splitlines()
    steps = [i for i, line in enumerate(lines) if _STEP.search(line)]
    if not steps:
        return None
    target = rng.choice(steps)
    value = None
    for i in range(target, len(lines)):
        match = _STEP.search(lines[i])
        if match:
            left, symbol, right, result = match.groups()
            left = int(left) if value is None else value
            if i == target:
                value = int(result) + rng.choice([-3, -2, -1, 1, 2, 3])
            else:
                value = compute(symbol, left, int(right))
            lines[i] = lines[i][: match.start()] + f"{left} {symbol} {right} = {value}" + lines[i][match.end():]
        elif value is not None and _FINAL.search(lines[i]):
            lines[i] = f"#### {value}"
    return "\n".join(lines)


def disputed_steps(preference: Preference) -> list[str] | None:
    """Each response's `a op b = c` at the first line where the responses do not all agree, or None (no
    such line, or a response without a step there)."""
    for lines in zip(*(response.splitlines() for response in preference.responses), strict=False):
        if len(set(lines)) > 1:
            steps = [_STEP.search(line) for line in lines]
            return [step.group(0) for step in steps] if all(steps) else None
    return None


def recompute(step: str) -> int:
    """The true result of an `a op b = c` step (`/` is whole-number division, as in the problems)."""
    match = _STEP.search(step)
    if match is None:
        raise ValueError(f"not an `a op b = c` step: {step!r}")
    left, symbol, right, _ = match.groups()
    return compute(symbol, int(left), int(right))


def arithmetic_preferences(rows: Sequence[dict[str, Any]], seed: int = 0) -> list[Preference]:
    """A (correct, perturbed) pair per arithmetic problem, in random order; the verifier must find the
    first correct and the second wrong, else the problem is skipped (a perturbation can land back on the
    right answer through integer division)."""
    from agentkit.reward_models.math_reward import math_reward

    rng = random.Random(f"preferences/{seed}")
    preferences = []
    for row in rows:
        wrong = perturb_solution(row["answer"], rng)
        if wrong is None or math_reward([row["answer"], wrong], [row["answer"]] * 2) != [1.0, 0.0]:
            continue
        prompt = f"Question: {row['question']}"
        if rng.random() < 0.5:
            preferences.append(Preference(prompt, (row["answer"], wrong), (0, 1), "arithmetic"))
        else:
            preferences.append(Preference(prompt, (wrong, row["answer"]), (1, 0), "arithmetic"))
    return preferences


def both_orders(preferences: Sequence[Preference]) -> list[Preference]:
    """Each pair shown both ways, its responses reversed the second time: the better response comes first
    exactly as often as second, so a referee that names one fixed letter scores exactly 50%, and one that
    reads the answers must pick the same response in both orders."""
    flipped = [
        Preference(p.prompt, p.responses[::-1], tuple(len(p.responses) - 1 - i for i in p.ranking), p.source)
        for p in preferences
    ]
    return [pair for both in zip(preferences, flipped, strict=True) for pair in both]


def _transcript(turns: Sequence[Any]) -> str:
    return "\n".join(turn.text for turn in turns if turn.role == "assistant")


def trajectory_preferences(path: str | Path, seed: int = 0) -> list[Preference]:
    """Successful against failed episodes of the same task (as many pairs as the smaller side has): the
    prompt is the task's first observation, a response is the agent's replies joined by lines. Episodes
    that ended in an env or backend error are left out: their failure says nothing about the agent."""
    from agentkit.trajectory import read_episodes

    episodes, _ = read_episodes(path)
    by_task: dict[str, dict[bool, list]] = defaultdict(lambda: {True: [], False: []})
    for episode in episodes:
        if episode.error is None and any(t.role == "assistant" for t in episode.turns):
            by_task[episode.task_id][bool(episode.success)].append(episode)
    rng = random.Random(f"trajectory-preferences/{seed}")
    preferences = []
    for task_id in sorted(by_task):
        for won, lost in zip(by_task[task_id][True], by_task[task_id][False], strict=False):
            observation = next((t.text for t in won.turns if t.role == "user"), task_id)
            pair = (_transcript(won.turns), _transcript(lost.turns))
            if rng.random() < 0.5:
                preferences.append(Preference(observation, pair, (0, 1), "trajectory"))
            else:
                preferences.append(Preference(observation, pair[::-1], (1, 0), "trajectory"))
    return preferences
