"""Recipe configs: a dataclass filled from a YAML file and `key=value` overrides, as torchtune recipes take.

Every value is checked against the field's type on load, and an unknown key is an error that names it and
lists the valid keys, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from agentkit.errors import AgentkitError

T = TypeVar("T")


_YAML11_EXPONENT = re.compile(r"[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+")


class ConfigError(AgentkitError, ValueError):
    """A bad config: the message names the key and the value."""


def _check_value(key: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _check_value(key, value, option)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}={value!r} fits none of {hint}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key}={value!r} must be one of {', '.join(map(repr, args))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}={value!r} must be a list")
        item = args[0] if args else Any
        checked = [_check_value(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
        return checked if origin is list else tuple(checked)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={value!r} must be a mapping")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{key}.")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str) and _YAML11_EXPONENT.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads `2e-4` (no dot in the mantissa) as a string
    if hint is float and isinstance(value, float) and math.isnan(value):
        raise ConfigError(f"{key}={value!r} must be a number")
    if hint in (int, float, str, bool) and (
        not isinstance(value, hint) or (hint is not bool and isinstance(value, bool))
    ):
        raise ConfigError(f"{key}={value!r} must be {hint.__name__}")
    return value


def _build(cls: type[T], values: Any, prefix: str = "") -> T:
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown config key {prefix + unknown[0]!r}; valid keys: {', '.join(sorted(fields))}")
    kwargs = {name: _check_value(f"{prefix}{name}", value, hints[name]) for name, value in values.items()}
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing config key {prefix + missing[0]!r}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # a dataclass's own __post_init__ validation
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {exc}") from exc


def _set_path(tree: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted}: {part!r} is not a section")
        node = child
    node[leaf] = value


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Build `cls` from a YAML file (optional) and `key=value` overrides (dotted keys reach nested sections)."""
    values: dict = {}
    if path is not None:
        try:
            values = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    for override in overrides or []:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {override!r} must look like key=value")
        _set_path(values, key.strip(), yaml.safe_load(raw) if raw.strip() else "")
    return _build(cls, values)


def config_to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def save_config(config: Any, path: str | Path) -> None:
    """Written to a partial file then renamed, so a reader never sees half a config."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False), encoding="utf-8")
    partial.replace(path)


def parse_recipe_args(cls: type[T], argv: list[str]) -> T:
    """`--config FILE` followed by any `key=value` overrides: the command line of every recipe."""
    path = None
    overrides = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--config":
            if index + 1 >= len(argv):
                raise ConfigError("--config needs a file")
            path, index = argv[index + 1], index + 2
            continue
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        elif "=" in arg and not arg.startswith("-"):
            overrides.append(arg)
        else:
            raise ConfigError(f"unexpected argument {arg!r}: use --config FILE and key=value overrides")
        index += 1
    return load_config(cls, path, overrides)


def run_recipe(name: str, main: Callable[[list[str]], None], argv: list[str]) -> int:
    """A recipe's command line: `main(argv)`, with a bad config or input reported as one line, exit code 2."""
    try:
        main(argv)
    except AgentkitError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    return 0


def print_report(run_dir: str | Path) -> None:
    """What every recipe prints when it finishes: its report and where the run folder is."""
    print((Path(run_dir) / "report.md").read_text())
    print(f"run folder: {run_dir}")
