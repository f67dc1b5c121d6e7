"""What a run folder holds, read for viewing: trajectory files (every line, good or malformed), search
trees, metrics (with per-round metrics) and the other files a recipe writes.

Files are re-read when they change on disk, so a run that is still writing shows its newest episodes.
Every path the viewer touches goes through `RunFolder.file`, which refuses anything outside the run.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from agentkit.errors import AgentkitError
from agentkit.jsonl import json_lines
from agentkit.methods.agent_r.tree_records import Tree, TreeError, tree_from_dict
from agentkit.trajectory import Episode, TrajectoryError, episode_from_dict

TREE_FILE = "trees.jsonl"
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif")
TEXT_FILES = ("report.md", "config.yaml", "results.md")
_SKIPPED_DIRS = {"checkpoints", "__pycache__", "node_modules"}
_SEARCH_CHARS = 20_000  # per episode: enough to find a word, small enough for the page to load fast

T = TypeVar("T")


@dataclass
class EpisodeRecord:
    """One line of a trajectory file: its Episode, or the error that names what is wrong with the line."""

    file: str  # path relative to the run folder, with `/`
    line: int
    episode: Episode | None
    error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.file}:{self.line}"


def adapter_label(meta: dict[str, Any]) -> str:
    """A short name for the adapter an episode was sampled with (`meta["adapter"]`), "" when none."""
    adapter = meta.get("adapter")
    if isinstance(adapter, dict):
        name = PurePosixPath(str(adapter.get("path") or "")).name
        digest = str(adapter.get("digest") or adapter.get("hash") or "")[:8]
        return "@".join(part for part in (name, digest) if part)
    return "" if adapter is None else str(adapter)


def episode_kind(meta: dict[str, Any]) -> str:
    return str(meta.get("kind") or "episode")


def search_text(episode: Episode) -> str:
    parts = [episode.task_id, episode.error or ""]
    for turn in episode.turns:
        parts += [turn.text, turn.thought or "", turn.action or ""]
    return " ".join(part for part in parts if part).lower()[:_SEARCH_CHARS]


def _natural_key(name: str) -> list:
    return [int(piece) if piece.isdigit() else piece for piece in re.split(r"(\d+)", name)]


def _numbered_lines(path: Path, rel: str) -> Iterator[tuple[int, Any, str | None]]:
    """`(line, record, error)` per line, where `error` names `rel:line` (a line that is not JSON or not
    UTF-8 is one error entry; the file's other lines still read)."""
    for where, record, error in json_lines(path):
        line = int(where.rsplit(":", 1)[1])
        yield line, record, None if error is None else f"{rel}:{line}: {error}"


def _scan(
    path: Path, rel: str, parse: Callable[[Any, str], T], invalid: type[Exception]
) -> Iterator[tuple[int, T | str]]:
    """`(line, parsed record or the error message naming file:line and field)` for each line."""
    for line, record, error in _numbered_lines(path, rel):
        if error is not None:
            yield line, error
            continue
        try:
            yield line, parse(record, f"{rel}:{line}")
        except invalid as exc:
            yield line, str(exc)


def _looks_like_trajectories(path: Path) -> bool:
    """A JSONL file holds trajectories when its first objects have `turns` (or no line parses at all:
    then its error rows are worth showing); prediction or task files are listed but not parsed."""
    decoded_any = False
    for count, (_, record, _) in enumerate(_numbered_lines(path, path.name)):
        if isinstance(record, dict):
            if "turns" in record:
                return True
            decoded_any = True
        if count >= 20:
            break
    return not decoded_any


class RunFolder:
    """A run folder (or one trajectory file) opened read-only for viewing."""

    def __init__(self, path: str | os.PathLike[str]):
        given = Path(path)
        if not given.exists():
            raise AgentkitError(f"{given}: no such run folder or trajectory file")
        resolved = given.resolve()
        self.single_file: Path | None = resolved if resolved.is_file() else None
        self.root = resolved.parent if self.single_file else resolved
        self.name = given.resolve().name
        self._cache: dict[tuple[str, str], tuple[tuple[int, int], Any]] = {}
        self._lock = threading.Lock()

    # -- paths -------------------------------------------------------------------------------------

    def file(self, rel: str) -> Path | None:
        """The file `rel` (relative, `/`-separated) names inside the run, or None when it is not one:
        absolute paths, `..`, hidden parts, the folders the listing skips (checkpoints) and symlinks that
        lead outside the run are all refused, so the server serves exactly what the viewer lists."""
        if not rel or "\x00" in rel or "\\" in rel or rel.startswith("/"):
            return None
        parts = rel.split("/")
        if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            return None
        if any(part in _SKIPPED_DIRS for part in parts[:-1]):
            return None
        candidate = (self.root / rel).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        if self.single_file is not None and candidate != self.single_file:
            return None
        return candidate

    def _walk(self) -> list[str]:
        """Every servable file of the run, relative and sorted (hidden and checkpoint folders skipped)."""
        if self.single_file is not None:
            return [self.single_file.name]
        found = []
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
            for name in names:
                rel = Path(folder, name).relative_to(self.root).as_posix()
                if self.file(rel) is not None:
                    found.append(rel)
        return sorted(found, key=_natural_key)

    def _cached(self, kind: str, rel: str, load: Callable[[Path], T]) -> T:
        """`load(path)` once per version of the file on disk."""
        path = self.root / rel
        version = self.version([rel])
        with self._lock:
            hit = self._cache.get((kind, rel))
        if hit is not None and hit[0] == version:
            return hit[1]
        value = load(path)
        with self._lock:
            self._cache[(kind, rel)] = (version, value)
        return value

    # -- contents ----------------------------------------------------------------------------------

    def trajectory_files(self) -> list[str]:
        if self.single_file is not None:
            return [self.single_file.name]
        return [
            rel
            for rel in self._walk()
            if rel.endswith(".jsonl")
            and PurePosixPath(rel).name != TREE_FILE
            and self._cached("is-trajectory", rel, _looks_like_trajectories)
        ]

    def version(self, files: list[str]) -> tuple:
        """Changes whenever one of `files` changes on disk: a key for caching what is built from them."""
        stats = [(self.root / rel).stat() for rel in files]
        return tuple((rel, stat.st_mtime_ns, stat.st_size) for rel, stat in zip(files, stats, strict=True))

    def tree_files(self) -> list[str]:
        return [rel for rel in self._walk() if PurePosixPath(rel).name == TREE_FILE]

    def images(self) -> list[str]:
        return [rel for rel in self._walk() if rel.lower().endswith(IMAGE_SUFFIXES)]

    def text_files(self) -> list[str]:
        """The run's own report, config and results (top level only)."""
        return [name for name in TEXT_FILES if self.single_file is None and self.file(name) is not None]

    def records(self, rel: str) -> list[EpisodeRecord]:
        def load(path: Path) -> list[EpisodeRecord]:
            records = []
            for line, item in _scan(path, rel, episode_from_dict, TrajectoryError):
                episode, error = (None, item) if isinstance(item, str) else (item, None)
                records.append(EpisodeRecord(rel, line, episode, error))
            return records

        return self._cached("episodes", rel, load)

    def all_records(self) -> list[EpisodeRecord]:
        return [record for rel in self.trajectory_files() for record in self.records(rel)]

    def search_texts(self, rel: str) -> dict[int, str]:
        return self._cached(
            "search",
            rel,
            lambda _: {r.line: search_text(r.episode) for r in self.records(rel) if r.episode is not None},
        )

    def trees(self, rel: str) -> list[tuple[int, Tree | str]]:
        """`(line, Tree or the error message)` for each line of a trees.jsonl file."""
        return self._cached("trees", rel, lambda path: list(_scan(path, rel, tree_from_dict, TreeError)))

    def all_trees(self) -> list[tuple[str, int, Tree | str]]:
        return [(rel, line, tree) for rel in self.tree_files() for line, tree in self.trees(rel)]

    def find_tree(self, task_id: str, round_: Any) -> tuple[str, int, Tree] | None:
        """The tree a revision episode was spliced from: same task, same round (any round when unknown)."""
        for rel, line, tree in self.all_trees():
            if isinstance(tree, Tree) and tree.task_id == task_id and round_ in (None, tree.round):
                return rel, line, tree
        return None

    def metrics(self) -> tuple[dict[str, Any] | None, str | None]:
        """`(metrics.json, None)`, `(None, why it cannot be read)`, or `(None, None)` when there is none."""
        if self.single_file is not None or self.file("metrics.json") is None:
            return None, None
        return self._cached("metrics", "metrics.json", _read_metrics)

    def rounds(self) -> list[tuple[str, dict[str, Any]]]:
        """Per-round metrics: a `rounds` list or mapping in metrics.json, else `*/metrics.json` of the
        round sub-folders, as `(label, metrics)` in round order."""
        metrics, _ = self.metrics()
        listed = (metrics or {}).get("rounds")
        if isinstance(listed, list):
            items = [item for item in listed if isinstance(item, dict)]
            return [(str(item.get("round", index)), item) for index, item in enumerate(items)]
        if isinstance(listed, dict):
            return [(str(key), item) for key, item in listed.items() if isinstance(item, dict)]
        found = []
        for rel in self._walk():
            parts = rel.split("/")
            if len(parts) == 2 and parts[1] == "metrics.json":
                sub, error = self._cached("metrics", rel, _read_metrics)
                if sub is not None and error is None:
                    found.append((parts[0], sub))
        return found


def _read_metrics(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, f"{path.name}: not valid JSON ({exc})"
    if not isinstance(metrics, dict):
        return None, f"{path.name}: expected an object, got {type(metrics).__name__}"
    return metrics, None


def sibling_runs(run: RunFolder) -> dict[str, Path]:
    """Runs beside this one (folders with a metrics.json) that `?compare=NAME` may name: an allow-list,
    so a URL never reaches a path of its own choosing."""
    if run.single_file is not None:
        return {}
    siblings = {}
    for entry in sorted(run.root.parent.iterdir(), key=lambda p: _natural_key(p.name)):
        visible = entry.is_dir() and entry != run.root and not entry.name.startswith(".")
        if visible and (entry / "metrics.json").is_file():
            siblings[entry.name] = entry
    return siblings
