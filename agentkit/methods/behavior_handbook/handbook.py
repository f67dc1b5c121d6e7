"""The behavior handbook: named, reusable reasoning procedures a model extracted from its own traces.

A behavior is a name plus a one-line instruction ("behavior_running_total: keep one running total and
apply each operation to it"), as in Metacognitive Reuse (2025). The handbook is plain JSON so a person can
read and edit it; loading validates every entry and names the entry and field at fault. Extraction over
many traces yields the same procedure many times under slightly different words, so `add` merges an
entry into a near-duplicate (same normalised name, or a near-identical instruction) instead of growing.

    {"version": 1, "behaviors": [{"name": "behavior_running_total", "instruction": "...",
      "tags": ["arithmetic"], "sources": ["arith-words-l2-3f1c"], "uses": 3}]}
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from agentkit.errors import AgentkitError

FORMAT_VERSION = 1
NAME_PREFIX = "behavior_"
DUPLICATE_INSTRUCTION_RATIO = 0.85  # difflib ratio of normalised instructions above which two entries merge
_NAME = re.compile(r"^behavior_[a-z0-9]+(?:_[a-z0-9]+)*$")
_WORD = re.compile(r"[a-z0-9]+")


class HandbookError(AgentkitError, ValueError):
    """A malformed handbook or behavior: the message names the entry and the field."""


def normalize_name(name: str) -> str:
    """`Running Total`, `behavior-running-total` and `behavior_running_total` are one behavior."""
    words = _WORD.findall(name.lower())
    if words and words[0] == "behavior":
        words = words[1:]
    return NAME_PREFIX + "_".join(words) if words else ""


def _normalize_text(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


@dataclass
class Behavior:
    """`sources` are the ids of the traces it was extracted from; `uses` counts how often it was retrieved
    into a prompt (or extracted again), so a curator can drop entries nobody uses."""

    name: str
    instruction: str
    tags: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    uses: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        where = f"behavior {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise HandbookError(
                f"{where}: field 'name'={self.name!r} must look like behavior_some_words (lowercase, underscores)"
            )
        if not isinstance(self.instruction, str) or not self.instruction.strip():
            raise HandbookError(f"{where}: field 'instruction'={self.instruction!r} must be a non-empty string")
        if "\n" in self.instruction:
            raise HandbookError(f"{where}: field 'instruction' must be one line, got {self.instruction!r}")
        for key in ("tags", "sources"):
            value = getattr(self, key)
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise HandbookError(f"{where}: field {key!r}={value!r} must be a list of non-empty strings")
        if not isinstance(self.uses, int) or isinstance(self.uses, bool) or self.uses < 0:
            raise HandbookError(f"{where}: field 'uses'={self.uses!r} must be an int >= 0")

    @property
    def line(self) -> str:
        """How a behavior appears in a prompt and in extraction output."""
        return f"{self.name}: {self.instruction}"

    def is_duplicate_of(self, other: Behavior) -> bool:
        if normalize_name(self.name) == normalize_name(other.name):
            return True
        ratio = SequenceMatcher(None, _normalize_text(self.instruction), _normalize_text(other.instruction)).ratio()
        return ratio >= DUPLICATE_INSTRUCTION_RATIO

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Behavior:
        if not isinstance(data, dict):
            raise HandbookError(f"{where}: must be an object with name and instruction, got {data!r}")
        known = {"name", "instruction", "tags", "sources", "uses"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise HandbookError(f"{where}: unknown field {unknown[0]!r}; known fields: {', '.join(sorted(known))}")
        for key in ("name", "instruction"):
            if key not in data:
                raise HandbookError(f"{where}: missing field {key!r}")
        try:
            return cls(**data)
        except HandbookError as exc:
            raise HandbookError(f"{where}: {exc}") from None


def _union(first: list[str], second: list[str]) -> list[str]:
    return first + [item for item in second if item not in first]


class Handbook:
    """An ordered collection of behaviors with unique names; `add` merges near-duplicates."""

    def __init__(self, behaviors: Iterable[Behavior] = ()):
        self.behaviors: list[Behavior] = []
        for behavior in behaviors:
            self.add(behavior)

    def __len__(self) -> int:
        return len(self.behaviors)

    def __iter__(self) -> Iterator[Behavior]:
        return iter(self.behaviors)

    def __contains__(self, name: str) -> bool:
        return any(b.name == name for b in self.behaviors)

    def __getitem__(self, name: str) -> Behavior:
        for behavior in self.behaviors:
            if behavior.name == name:
                return behavior
        raise KeyError(f"no behavior named {name!r}; known: {', '.join(b.name for b in self.behaviors)}")

    def add(self, behavior: Behavior) -> Behavior:
        """Add `behavior`, or fold it into the first near-duplicate: the existing name and instruction stay
        (the handbook's wording is stable), tags and sources are united and use counts added."""
        for existing in self.behaviors:
            if behavior.is_duplicate_of(existing):
                existing.tags = _union(existing.tags, behavior.tags)
                existing.sources = _union(existing.sources, behavior.sources)
                existing.uses += behavior.uses
                return existing
        copy = Behavior(behavior.name, behavior.instruction, list(behavior.tags), list(behavior.sources),
                        behavior.uses)
        self.behaviors.append(copy)
        return copy

    def merge(self, other: Iterable[Behavior]) -> Handbook:
        for behavior in other:
            self.add(behavior)
        return self

    def with_tags(self, tags: Iterable[str]) -> list[Behavior]:
        """Behaviors carrying any of `tags` (retrieval by topic), in handbook order."""
        wanted = {t.lower() for t in tags}
        return [b for b in self.behaviors if wanted & {t.lower() for t in b.tags}]

    def to_dict(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, "behaviors": [asdict(b) for b in self.behaviors]}

    def save(self, path: str | Path) -> Path:
        """Written to a temporary file then renamed, so a crash never leaves half a handbook."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        partial.replace(path)
        return path

    @classmethod
    def from_dict(cls, data: Any, where: str = "handbook") -> Handbook:
        if not isinstance(data, dict) or not isinstance(data.get("behaviors"), list):
            raise HandbookError(f"{where}: must be an object with a 'behaviors' list")
        if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
            raise HandbookError(f"{where}: field 'version'={data['version']!r}; this reader knows {FORMAT_VERSION}")
        handbook = cls()
        for index, entry in enumerate(data["behaviors"]):
            behavior = Behavior.from_dict(entry, f"{where}: behaviors[{index}]")
            if behavior.name in handbook:
                raise HandbookError(f"{where}: behaviors[{index}]: field 'name'={behavior.name!r} is a duplicate")
            handbook.behaviors.append(behavior)  # a saved handbook is kept as written, not re-merged
        return handbook

    @classmethod
    def load(cls, path: str | Path) -> Handbook:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise HandbookError(f"handbook file not found: {path}") from None
        except json.JSONDecodeError as exc:
            raise HandbookError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(data, str(path))
