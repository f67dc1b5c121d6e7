"""Sampling parameters and completions: the one vocabulary every backend speaks."""

from __future__ import annotations

from dataclasses import dataclass, fields

from agentkit.errors import AgentkitError


class SamplingError(AgentkitError, ValueError):
    """Bad sampling parameters; the message names the parameter and its value."""


@dataclass(frozen=True)
class SamplingParams:
    """`temperature=0` is greedy decoding; `n` completions per prompt; `seed` makes sampling repeatable."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 64
    n: int = 1
    seed: int | None = None

    def __post_init__(self) -> None:
        checks = {
            "temperature": isinstance(self.temperature, int | float) and self.temperature >= 0,
            "top_p": isinstance(self.top_p, int | float) and 0 < self.top_p <= 1,
            "max_tokens": isinstance(self.max_tokens, int) and self.max_tokens >= 1,
            "n": isinstance(self.n, int) and self.n >= 1,
            "seed": self.seed is None or isinstance(self.seed, int),
        }
        rules = {
            "temperature": "a number >= 0",
            "top_p": "a number in (0, 1]",
            "max_tokens": "an int >= 1",
            "n": "an int >= 1",
            "seed": "an int or None",
        }
        for name, ok in checks.items():
            if not ok or isinstance(getattr(self, name), bool):
                raise SamplingError(f"sampling parameter {name}={getattr(self, name)!r} must be {rules[name]}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @classmethod
    def from_dict(cls, values: dict) -> SamplingParams:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SamplingError(f"unknown sampling parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return cls(**values)


@dataclass
class Completion:
    """One generated reply. `token_ids` end with the end-of-turn token when generation stopped on it;
    `text` never contains it. `error` is set (and the rest empty) when the backend failed for this prompt."""

    text: str
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    finish_reason: str = "stop"
    error: str | None = None

    @classmethod
    def failed(cls, error: str) -> Completion:
        return cls(text="", finish_reason="error", error=error)
