"""TextWorld game sets: generation through TextWorld's own API, cached on disk, split by seed.

A game set is a generator (`custom` or one of TextWorld's challenges) plus parameters. Each split draws its
games from its own seed range, so train / valid / test never share a game, and `test_hard` also raises the
difficulty (more rooms, longer quests) to measure out-of-distribution generalisation. A parameter given as
`[lo, hi]` is drawn per game from the game's seed, so one set mixes sizes while staying reproducible.

Games live in `cache_dir/<set>-<hash of its parameters>/` with a `manifest.json` that records every seed
tried: its file, concrete parameters, walkthrough and max score, or the generation error. The same seed
and parameters always give the same game, so a cache can be deleted and rebuilt at will.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from agentkit.envs.base import EnvError

DEFAULT_CACHE_DIR = Path("~/.cache/agentkit/textworld")
SPLITS = ("train", "valid", "test", "test_hard")
# Seeds of the named splits; a fresh set (`generation_seed`) draws from above them all.
_SPLIT_SEED_BASE = {"train": 0, "valid": 100_000, "test": 200_000, "test_hard": 300_000}
_FRESH_SEED_BASE = 1_000_000
_FRESH_SEEDS_PER_SET = 10_000
_MANIFEST = "manifest.json"
_MANIFEST_VERSION = 1


@dataclass(frozen=True)
class GameSet:
    """A named generator configuration; `split_params` override `params` for the named split."""

    name: str
    generator: str  # "custom" or a TextWorld challenge name
    description: str
    params: dict[str, Any]
    split_params: dict[str, dict[str, Any]] = field(default_factory=dict)


GAME_SETS: dict[str, GameSet] = {
    game_set.name: game_set
    for game_set in (
        GameSet(
            "custom",
            "custom",
            "random worlds and quests: small by default, larger with more objects for test_hard",
            {"world_size": [3, 5], "nb_objects": [5, 10], "quest_length": [3, 4]},
            {"test_hard": {"world_size": [6, 8], "nb_objects": [10, 15], "quest_length": [5, 6]}},
        ),
        GameSet(
            "tw-simple",
            "tw-simple",
            "fixed house, find a food item and put it on the stove; test_hard: sparse reward, brief goal",
            {"rewards": "dense", "goal": "detailed", "test": False},
            {"test_hard": {"rewards": "sparse", "goal": "brief", "test": True}},
        ),
        GameSet(
            "tw-cooking",
            "tw-cooking",
            "First TextWorld Problem cooking games; each split uses its own foods, test_hard needs cooking",
            {"recipe": 1, "take": 1, "go": 1, "open": True, "split": "train"},
            {
                "valid": {"split": "valid"},
                "test": {"split": "test"},
                "test_hard": {"split": "test", "recipe": 2, "take": 2, "go": 6, "cook": True, "cut": True},
            },
        ),
        GameSet(
            "tw-coin_collector",
            "tw-coin_collector",
            "find the coin along a chain of rooms; test_hard adds distractor rooms and longer chains",
            {"level": [3, 8]},
            {"test_hard": {"level": [110, 115]}},
        ),
        GameSet(
            "tw-treasure_hunter",
            "tw-treasure_hunter",
            "find a named object among distractors; test_hard uses levels 11-20 (locked doors, more rooms)",
            {"level": [1, 10]},
            {"test_hard": {"level": [11, 20]}},
        ),
    )
}

_CUSTOM_PARAMS = ("world_size", "nb_objects", "quest_length")


@dataclass(frozen=True)
class GameRecord:
    """One generated game of a split."""

    game_id: str
    seed: int
    path: Path
    params: dict[str, Any]
    walkthrough: tuple[str, ...]
    max_score: float


def game_set(name: str) -> GameSet:
    if name not in GAME_SETS:
        raise EnvError(f"unknown game_set {name!r}; known: {', '.join(GAME_SETS)}")
    return GAME_SETS[name]


def _allowed_params(generator: str) -> dict[str, Any]:
    """Parameter names a generator accepts, with TextWorld's own defaults (read from its argparser)."""
    if generator == "custom":
        return dict.fromkeys(_CUSTOM_PARAMS)
    import textworld.challenges

    parser = argparse.ArgumentParser(add_help=False)
    textworld.challenges.CHALLENGES[generator][2](parser)
    return {action.dest: action.default for action in parser._actions}


def split_params(game_set_name: str, split: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The parameter spec of a split (ranges not yet drawn), with `overrides` applied and checked."""
    spec = game_set(game_set_name)
    if split not in SPLITS:
        raise EnvError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    params = {**spec.params, **spec.split_params.get(split, {}), **(overrides or {})}
    allowed = _allowed_params(spec.generator)
    for key, value in params.items():
        if key not in allowed:
            raise EnvError(f"game_set {spec.name!r} has no parameter {key!r}; known: {', '.join(allowed)}")
        if isinstance(value, list | tuple):
            if len(value) != 2 or not all(isinstance(v, int) for v in value) or value[0] > value[1]:
                raise EnvError(f"parameter {key!r}={value!r}: a range must be [lo, hi] with ints lo <= hi")
            params[key] = list(value)
    return params


def concrete_params(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Draw every `[lo, hi]` range from the game's seed (in key order, so the draw is reproducible)."""
    rng = random.Random(seed)
    return {k: rng.randint(*v) if isinstance(v, list) else v for k, v in sorted(params.items())}


def split_seeds(split: str, generation_seed: int | None = None) -> Iterator[int]:
    """The seeds a split's games are drawn from, in order; disjoint across splits and fresh sets."""
    if generation_seed is None:
        base = _SPLIT_SEED_BASE[split]
        limit = base + 100_000
    else:
        if not 0 <= generation_seed < 100_000:
            raise EnvError(f"generation_seed={generation_seed!r} must be an int in [0, 100000)")
        base = _FRESH_SEED_BASE + generation_seed * _FRESH_SEEDS_PER_SET
        limit = base + _FRESH_SEEDS_PER_SET
    yield from range(base, limit)


@contextmanager
def quiet_jericho() -> Iterator[None]:
    """Silence jericho's warning that it cannot track a TextWorld game's score: TextWorld tracks it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is not fully supported")
        yield


def generate_game(generator: str, params: dict[str, Any], seed: int, folder: str) -> dict[str, Any]:
    """Generate and compile one game in this process; returns its manifest entry.

    Top-level so that worker processes can run it.
    """
    import textworld
    import textworld.challenges
    from textworld.generator import compile_game, make_game

    options = textworld.GameOptions()
    options.seeds = seed
    options.path = os.path.join(folder, f"s{seed}.z8")
    options.file_ext = ".z8"
    with quiet_jericho():  # challenges play their game once to record the walkthrough
        if generator == "custom":
            options.nb_rooms = params["world_size"]
            options.nb_objects = params["nb_objects"]
            length = params["quest_length"]
            options.chaining.min_length = options.chaining.max_length = options.chaining.max_depth = length
            game = make_game(options)
        else:
            settings = {**_allowed_params(generator), **params}
            game = textworld.challenges.CHALLENGES[generator][1](settings=settings, options=options)
        path = compile_game(game, options)
    return {
        "file": os.path.basename(path),
        "params": params,
        "walkthrough": list(game.metadata.get("walkthrough") or []),
        "max_score": game.max_score,
    }


def _generate_or_error(generator: str, params: dict[str, Any], seed: int, folder: str) -> dict[str, Any]:
    try:
        return generate_game(generator, params, seed, folder)
    except Exception as exc:  # a seed the generator cannot realise (e.g. no quest fits): recorded, skipped
        return {"error": f"{type(exc).__name__}: {exc}", "params": params}


def set_folder(cache_dir: str | os.PathLike[str], game_set_name: str, params: dict[str, Any]) -> Path:
    key = json.dumps({"generator": game_set(game_set_name).generator, "params": params}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return Path(cache_dir).expanduser() / f"{game_set_name}-{digest}"


def _read_manifest(folder: Path, game_set_name: str, params: dict[str, Any]) -> dict[str, Any]:
    path = folder / _MANIFEST
    if not path.exists():
        return {"version": _MANIFEST_VERSION, "game_set": game_set_name, "params": params, "games": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest.get("games"), dict):
            raise ValueError("field 'games' must be an object")
    except (ValueError, AttributeError) as exc:
        raise EnvError(f"{path}: corrupt manifest ({exc}); delete it to regenerate the set") from exc
    return manifest


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    tmp = folder / f"{_MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(folder / _MANIFEST)  # atomic: a reader never sees half a manifest


def _run_generation(
    generator: str, params: dict[str, Any], seeds: list[int], folder: Path, workers: int, progress: bool
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Generate `seeds` (in worker processes when `workers > 1`), yielding (seed, entry) as they finish."""
    from rich.progress import Progress

    jobs = [(generator, concrete_params(params, seed), seed, str(folder)) for seed in seeds]
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"generating {len(jobs)} games in {folder.name}", total=len(jobs))
        if workers <= 1 or len(jobs) == 1:
            for job in jobs:
                yield job[2], _generate_or_error(*job)
                bar.advance(task)
            return
        # spawn: TextWorld workers must not inherit the parent's threads (torch, rich) through fork
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_generate_or_error, *job): job[2] for job in jobs}
            try:
                for future in as_completed(futures):
                    yield futures[future], future.result()
                    bar.advance(task)
            except BrokenProcessPool as exc:
                raise EnvError(
                    f"a game generation worker died ({exc}); scripts that generate with workers > 1 must "
                    "guard their entry point with `if __name__ == '__main__':`, or pass workers=1"
                ) from exc


def load_games(
    game_set_name: str,
    split: str = "train",
    n_games: int = 20,
    *,
    cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
    params: dict[str, Any] | None = None,
    generation_seed: int | None = None,
    workers: int = 1,
    progress: bool = False,
) -> list[GameRecord]:
    """The first `n_games` games of a split, generating (and caching) the ones not on disk yet.

    Seeds the generator cannot realise are recorded in the manifest and skipped, so a split always holds
    `n_games` games; when a whole batch fails, the parameters are at fault and EnvError says so.
    """
    if not isinstance(n_games, int) or n_games < 1:
        raise EnvError(f"n_games={n_games!r} must be a positive int")
    spec = split_params(game_set_name, split, params)
    generator = game_set(game_set_name).generator
    folder = set_folder(cache_dir, game_set_name, spec)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(folder, game_set_name, spec)
    entries: dict[str, dict[str, Any]] = manifest["games"]
    seeds = split_seeds(split, generation_seed)
    chosen: list[int] = []
    while len(chosen) < n_games:
        batch: list[int] = []
        for seed in seeds:
            entry = entries.get(str(seed))
            if entry is not None and "error" not in entry and not (folder / entry["file"]).exists():
                entry = None  # deleted from the cache: regenerate it
            if entry is None:
                batch.append(seed)
            elif "error" not in entry:
                chosen.append(seed)
            if len(chosen) + len(batch) >= n_games:
                break
        if not batch:
            if len(chosen) < n_games:
                raise EnvError(f"split {split!r} of {game_set_name!r} ran out of seeds for {n_games} games")
            break
        for seed, entry in _run_generation(generator, spec, batch, folder, workers, progress):
            entries[str(seed)] = entry
        _write_manifest(folder, manifest)
        realised = [seed for seed in batch if "error" not in entries[str(seed)]]
        if not realised:
            error = entries[str(batch[0])]["error"]
            raise EnvError(f"game_set {game_set_name!r} with params {spec} generated no game: {error}")
        chosen = sorted(chosen + realised)
    return [_record(game_set_name, folder, seed, entries[str(seed)]) for seed in sorted(chosen)[:n_games]]


def _record(game_set_name: str, folder: Path, seed: int, entry: dict[str, Any]) -> GameRecord:
    return GameRecord(
        game_id=f"{game_set_name}-{seed}",
        seed=seed,
        path=folder / entry["file"],
        params=entry["params"],
        walkthrough=tuple(entry["walkthrough"]),
        max_score=float(entry["max_score"]),
    )
