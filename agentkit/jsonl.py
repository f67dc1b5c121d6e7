"""Reading JSONL line by line with locations, so every error can name the file and the line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def json_lines(path: str | os.PathLike[str]) -> Iterator[tuple[str, Any, str | None]]:
    """`(where, record, error)` for each non-blank line: `where` is `file:line`; `error` says why a line
    is not valid JSON (and `record` is then None)."""
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                yield where, json.loads(line), None
            except json.JSONDecodeError as exc:
                yield where, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
