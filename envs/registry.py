"""Env registry: names to lazily imported entry points, like Gymnasium's `register`/`make`.

Entry points are `"module:attr"` strings so that listing envs imports none of their heavy dependencies.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from agentkit.envs.base import EnvError, TextEnv
from agentkit.envs.episode_limit import EpisodeLimit


@dataclass(frozen=True)
class EnvSpec:
    name: str
    entry_point: str
    description: str
    extra: str | None = None  # the pip extra that provides its dependencies, if not core


_REGISTRY: dict[str, EnvSpec] = {}


def register(name: str, entry_point: str, description: str, extra: str | None = None) -> None:
    if name in _REGISTRY and _REGISTRY[name].entry_point != entry_point:
        raise EnvError(f"env {name!r} is already registered to {_REGISTRY[name].entry_point}")
    _REGISTRY[name] = EnvSpec(name, entry_point, description, extra)


def registered() -> list[EnvSpec]:
    return sorted(_REGISTRY.values(), key=lambda spec: spec.name)


def spec(name: str) -> EnvSpec:
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise EnvError(f"unknown env {name!r}; known envs: {known}")
    return _REGISTRY[name]


def make(name: str, **kwargs: Any) -> EpisodeLimit:
    """Build a registered env by name, or any env class by `"module:attr"`; kwargs go to its constructor.

    The env comes wrapped in `EpisodeLimit`, which owns step counting, truncation and the reset/step order.
    """
    return EpisodeLimit(_construct(name, kwargs))


def _construct(name: str, kwargs: dict[str, Any]) -> TextEnv:
    if ":" in name and name not in _REGISTRY:
        module_name, attr = name.split(":")
        return getattr(importlib.import_module(module_name), attr)(**kwargs)
    env_spec = spec(name)
    module_name, attr = env_spec.entry_point.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f" (pip install 'agentkit[{env_spec.extra}]')" if env_spec.extra else ""
        raise EnvError(f"env {name!r} cannot be imported: {exc}{hint}") from exc
    return getattr(module, attr)(**kwargs)
