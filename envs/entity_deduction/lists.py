"""The Entity-Deduction Arena's entity lists (Zhang et al. 2023), shipped verbatim in `data/lists/`.

One line is one entity; `A | B` gives aliases. Upstream faults are corrected here, in the open, rather than
by editing the shipped files: see `JOINED_LINES`.
"""

from __future__ import annotations

from importlib import resources

from agentkit.envs.base import EnvError

ENTITY_LISTS = ("things", "celebrities")
SPLITS = ("train", "dev", "test")
_FILES = {
    "things": "things/newlist_things.rmdup.{split}.txt",
    "celebrities": "celebrities/newlist_celebs.all.rmdup.{split}.txt",
}
# A missing newline upstream joins two entities on one line of the things test split.
JOINED_LINES = {("things", "test", "CelloMarshmallow"): ("Cello", "Marshmallow")}


def check_list_and_split(entity_list: str, split: str) -> None:
    if entity_list not in ENTITY_LISTS:
        raise EnvError(f"entity_list={entity_list!r} is not one of {', '.join(ENTITY_LISTS)}")
    if split not in SPLITS:
        raise EnvError(f"split={split!r} is not one of {', '.join(SPLITS)}")


def read_list(entity_list: str, split: str) -> list[tuple[str, ...]]:
    """The entries of one split in file order, each a tuple of its names (the first is the main one)."""
    check_list_and_split(entity_list, split)
    lists = resources.files("agentkit.envs.entity_deduction") / "data" / "lists"
    path = lists / _FILES[entity_list].format(split=split)
    entries: list[tuple[str, ...]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        for part in JOINED_LINES.get((entity_list, split, line), (line,)):
            entries.append(tuple(name.strip() for name in part.split("|") if name.strip()))
    return entries
