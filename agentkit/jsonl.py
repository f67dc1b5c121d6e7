"""JSONL files line by line: reading with locations, so every error can name the file and the line, and
appending so that a line a killed writer cut off never swallows the next record."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from agentkit.errors import AgentkitError


class MissingFileError(AgentkitError, FileNotFoundError):
    """A JSONL file to read does not exist (a user error: the message names the path)."""


def json_lines(path: str | os.PathLike[str]) -> Iterator[tuple[str, Any, str | None]]:
    """`(where, record, error)` for each non-blank line: `where` is `file:line`; `error` says why a line
    is not valid JSON or not UTF-8 text (and `record` is then None). Lines are decoded one at a time, so
    a bad byte costs its own line only."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except (FileNotFoundError, IsADirectoryError):
        raise MissingFileError(f"{path}: no such file") from None
    with handle:
        for line_number, raw in enumerate(handle, start=1):
            where = f"{path}:{line_number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield where, None, f"not UTF-8 text (byte {raw[exc.start]:#04x} at column {exc.start + 1})"
                continue
            if not line.strip():
                continue
            try:
                yield where, json.loads(line), None
            except json.JSONDecodeError as exc:
                yield where, None, f"not valid JSON ({exc.msg} at column {exc.colno})"


def corrupt_path(path: str | os.PathLike[str]) -> Path:
    """Where `open_for_append` keeps the bytes of a cut-off last line of `path`."""
    path = Path(path)
    return path.with_name(path.name + ".corrupt")


def _unterminated_tail(handle, size: int) -> bytes:
    """The bytes after the file's last newline (empty when it ends with one)."""
    block = 1 << 16
    end = size
    tail = b""
    while end > 0:
        start = max(0, end - block)
        handle.seek(start)
        chunk = handle.read(end - start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return chunk[cut + 1 :] + tail
        tail, end = chunk + tail, start
    return tail


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


def open_for_append(path: str | os.PathLike[str]) -> TextIO:
    """`path` opened to append lines (created with its folder if needed).

    A last line without its newline is what a killed writer leaves. A complete JSON record there only
    gets its newline; anything else is moved, bytes unchanged, to `path.corrupt` (with a warning), so the
    next record starts a line of its own and every earlier line still reads.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        tail = _unterminated_tail(handle, size) if size else b""
        if tail and _is_json(tail):
            handle.write(b"\n")
        elif tail:
            side = corrupt_path(path)
            with side.open("ab") as kept:
                kept.write(tail + b"\n")
                kept.flush()
                os.fsync(kept.fileno())
            handle.truncate(size - len(tail))
            warnings.warn(
                f"{path}: its last line was cut off ({len(tail)} bytes, as a killed writer leaves it); "
                f"moved to {side}",
                stacklevel=2,
            )
        handle.flush()
        os.fsync(handle.fileno())
    return path.open("a", encoding="utf-8")
