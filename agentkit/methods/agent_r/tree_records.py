"""The search-tree file (`trees.jsonl`): one MCTS tree per task and round, with the good/bad path pairs
that revision trajectories are spliced from. Validated by hand so an error names the line and the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentkit.errors import AgentkitError


class TreeError(AgentkitError, ValueError):
    """A malformed tree line; the message names the file, the line and the field."""


@dataclass
class Node:
    id: int
    parent: int | None
    action: str | None
    thought: str | None
    observation: str
    visits: int
    value: float
    reward: float
    terminal: bool
    depth: int
    children: list[Node] = field(default_factory=list)


@dataclass
class Pair:
    good: list[int]
    bad: list[int]
    good_value: float
    bad_value: float
    splice_step: int
    critique_rule: str


@dataclass
class Tree:
    task_id: str
    env: str
    round: int
    nodes: dict[int, Node]
    pairs: list[Pair]

    @property
    def roots(self) -> list[Node]:
        return [node for node in self.nodes.values() if node.parent is None]


_NUMBER = (int, float)
_NODE_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "parent": (int, type(None)),
    "action": (str, type(None)),
    "thought": (str, type(None)),
    "observation": (str,),
    "visits": (int,),
    "value": _NUMBER,
    "reward": _NUMBER,
    "terminal": (bool,),
    "depth": (int,),
}
_PAIR_FIELDS: dict[str, tuple[type, ...]] = {
    "good": (list,),
    "bad": (list,),
    "good_value": _NUMBER,
    "bad_value": _NUMBER,
    "splice_step": (int,),
    "critique_rule": (str,),
}
_TREE_FIELDS: dict[str, tuple[type, ...]] = {
    "task_id": (str,),
    "env": (str,),
    "round": (int,),
    "nodes": (list,),
    "pairs": (list,),
}


def _checked(record: Any, spec: dict[str, tuple[type, ...]], where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise TreeError(f"{where}: expected an object, got {type(record).__name__}")
    for name, types in spec.items():
        if name not in record:
            raise TreeError(f"{where}: missing field {name!r}")
        value = record[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            expected = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise TreeError(f"{where}: field {name!r} must be {expected}, got {value!r:.60}")
    return {name: record[name] for name in spec}


def tree_from_dict(record: Any, where: str = "tree") -> Tree:
    """Validate one decoded line and link the nodes to their children."""
    tree = _checked(record, _TREE_FIELDS, where)
    nodes: dict[int, Node] = {}
    for index, raw in enumerate(tree["nodes"]):
        node = Node(**_checked(raw, _NODE_FIELDS, f"{where}: nodes[{index}]"))
        if node.id in nodes:
            raise TreeError(f"{where}: nodes[{index}]: duplicate node id {node.id}")
        nodes[node.id] = node
    for index, node in enumerate(nodes.values()):
        if node.parent is not None:
            if node.parent not in nodes:
                raise TreeError(f"{where}: nodes[{index}]: field 'parent' names unknown node {node.parent}")
            nodes[node.parent].children.append(node)
    pairs = []
    for index, raw in enumerate(tree["pairs"]):
        pair = Pair(**_checked(raw, _PAIR_FIELDS, f"{where}: pairs[{index}]"))
        for side in ("good", "bad"):
            unknown = [n for n in getattr(pair, side) if n not in nodes]
            if unknown:
                raise TreeError(f"{where}: pairs[{index}]: field {side!r} names unknown node {unknown[0]!r}")
        pairs.append(pair)
    return Tree(tree["task_id"], tree["env"], tree["round"], nodes, pairs)
