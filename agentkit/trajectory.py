"""The one trajectory format from env to trainer: episodes of turns, stored as append-only JSONL.

A turn's `loss` flag says whether the trainer learns from it (as Agent-R and AgentGym mark turns), and the
generator's token ids and logprobs stay on the turn so training never re-tokenizes generated text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

from agentkit.errors import AgentkitError
from agentkit.jsonl import json_lines, open_for_append

ROLES = ("system", "user", "assistant")


class TrajectoryError(AgentkitError, ValueError):
    """A malformed trajectory line; the message names the file, the line and the field."""


@dataclass
class Turn:
    """One message: the system prompt, an observation (`user`) or the agent's reply (`assistant`)."""

    role: str
    text: str
    thought: str | None = None
    action: str | None = None
    reward: float = 0.0
    loss: bool = False
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Episode:
    """One episode of one task; `error` is set when the env or the backend failed mid-episode."""

    task_id: str
    env: str
    turns: list[Turn]
    seed: int | None = None
    success: bool = False
    score: float = 0.0
    steps: int = 0
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


# Field name -> (accepted types, required). Checked by hand so that the error can name the field.
_TURN_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "role": ((str,), True),
    "text": ((str,), True),
    "thought": ((str, type(None)), False),
    "action": ((str, type(None)), False),
    "reward": ((int, float), False),
    "loss": ((bool,), False),
    "token_ids": ((list, type(None)), False),
    "logprobs": ((list, type(None)), False),
    "info": ((dict,), False),
}
_EPISODE_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "task_id": ((str,), True),
    "env": ((str,), True),
    "turns": ((list,), True),
    "seed": ((int, type(None)), False),
    "success": ((bool,), False),
    "score": ((int, float), False),
    "steps": ((int,), False),
    "error": ((str, type(None)), False),
    "meta": ((dict,), False),
}
assert set(_TURN_FIELDS) == {f.name for f in fields(Turn)}
assert set(_EPISODE_FIELDS) == {f.name for f in fields(Episode)}


def _check_fields(record: Any, spec: dict[str, tuple[tuple[type, ...], bool]], where: str) -> None:
    if not isinstance(record, dict):
        raise TrajectoryError(f"{where}: expected an object, got {type(record).__name__}")
    unknown = sorted(set(record) - set(spec))
    if unknown:
        raise TrajectoryError(f"{where}: unknown field {unknown[0]!r}")
    for name, (types, required) in spec.items():
        if name not in record:
            if required:
                raise TrajectoryError(f"{where}: missing field {name!r}")
            continue
        value = record[name]
        numeric_bool = isinstance(value, bool) and bool not in types
        if not isinstance(value, types) or numeric_bool:
            expected = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise TrajectoryError(f"{where}: field {name!r} must be {expected}, got {value!r:.60}")


def episode_from_dict(record: Any, where: str = "episode") -> Episode:
    """Validate a decoded JSON record and build an Episode; errors name `where` and the field."""
    _check_fields(record, _EPISODE_FIELDS, where)
    turns = []
    for index, raw in enumerate(record["turns"]):
        turn_where = f"{where}: turns[{index}]"
        _check_fields(raw, _TURN_FIELDS, turn_where)
        if raw["role"] not in ROLES:
            raise TrajectoryError(f"{turn_where}: field 'role' must be one of {ROLES}, got {raw['role']!r}")
        for name, kind in (("token_ids", int), ("logprobs", (int, float))):
            values = raw.get(name)
            if values is not None and not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
                raise TrajectoryError(f"{turn_where}: field {name!r} must hold only numbers")
        if raw.get("logprobs") is not None and len(raw["logprobs"]) != len(raw.get("token_ids") or []):
            raise TrajectoryError(f"{turn_where}: field 'logprobs' must have one entry per token id")
        turns.append(Turn(**raw))
    return Episode(**{**record, "turns": turns})


class TrajectoryWriter:
    """Appends episodes to a JSONL file, flushed and synced per episode so a killed run loses nothing (a line
    such a kill cut off is set aside on opening: see `open_for_append`)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._file: TextIO | None = open_for_append(self.path)

    def write(self, episode: Episode) -> None:
        if self._file is None:
            raise ValueError(f"{self.path}: writer is closed")
        self._file.write(episode.to_json() + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_episodes(path: str | os.PathLike[str], episodes: Iterable[Episode]) -> None:
    with TrajectoryWriter(path) as writer:
        for episode in episodes:
            writer.write(episode)


def scan_episodes(path: str | os.PathLike[str]) -> Iterator[Episode | TrajectoryError]:
    """Yield each line's Episode, or the TrajectoryError that names what is wrong with it."""
    for where, record, error in json_lines(path):
        if error is not None:
            yield TrajectoryError(f"{where}: {error}")
            continue
        try:
            yield episode_from_dict(record, where)
        except TrajectoryError as exc:
            yield exc


def read_episodes(path: str | os.PathLike[str], *, skip_invalid: bool = False) -> tuple[list[Episode], int]:
    """Load every episode of a JSONL file; returns (episodes, number of invalid lines skipped).

    Without `skip_invalid` the first malformed line raises its TrajectoryError.
    """
    episodes: list[Episode] = []
    skipped = 0
    for item in scan_episodes(path):
        if isinstance(item, TrajectoryError):
            if not skip_invalid:
                raise item
            skipped += 1
        else:
            episodes.append(item)
    return episodes, skipped


def to_messages(episode: Episode) -> list[dict[str, Any]]:
    """TRL's conversational `messages`, each message keeping its turn's `loss` flag (and token ids)."""
    messages = []
    for turn in episode.turns:
        message: dict[str, Any] = {"role": turn.role, "content": turn.text, "loss": turn.loss}
        if turn.token_ids is not None:
            message["token_ids"] = turn.token_ids
        messages.append(message)
    return messages


def to_dataset(episodes: list[Episode]):  # -> datasets.Dataset (imported lazily: it is slow to import)
    """A `datasets.Dataset` with one row per episode: `messages` plus the episode's outcome fields."""
    import datasets

    rows = {
        "messages": [to_messages(e) for e in episodes],
        "task_id": [e.task_id for e in episodes],
        "env": [e.env for e in episodes],
        "success": [e.success for e in episodes],
        "score": [float(e.score) for e in episodes],
        "steps": [e.steps for e in episodes],
    }
    return datasets.Dataset.from_dict(rows)
