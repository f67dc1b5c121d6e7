"""Agent-R's revision trajectories: good/bad path pairs from a search tree, the error step, the splice.

A bad path and a good path of the same tree share a prefix (at least the task's first observation). The
revision trajectory walks the bad path up to the step where it went wrong, then the agent says it got it
wrong and continues with the good path from where the two split, so the model learns to notice its own
error mid-episode and recover instead of looping. Only the revision and the good continuation are trained.

The error step comes from the policy itself (it judges each bad step "Good", "Bad" or "Uncertain"). A
model too weak to answer in those words falls back to the first step where the bad path's value drops below
the good path's; optionally, a command the bad path repeats to no effect (a loop, an error whatever the
values say) comes first. Each pair records which rule placed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agentkit.methods.agent_r.search import Node, Tree
from agentkit.prompts import PromptFormat
from agentkit.rollout.backend import Backend
from agentkit.rollout.engine import no_command_answer
from agentkit.rollout.sampling import SamplingParams
from agentkit.trajectory import Episode, Turn

REVISION_THOUGHTS = (
    "I realize my approach was flawed. I need to revise it.",
    "I took the wrong action. I should go back to a better plan.",
    "That did not work. Let me reconsider and try another way.",
)
JUDGEMENTS = ("good", "bad", "uncertain")
CRITIQUE_SYSTEM = (
    "You review the steps of an agent playing a text game. Judge the last step: answer with one word, "
    "Good, Bad or Uncertain."
)
_FIRST_WORD = re.compile(r"[A-Za-z]+")


def revision_reply(thought: str) -> str:
    """The agent's revision turn: a thought and no command (the engine answers it without an env step)."""
    return f"Thought: {thought}"


@dataclass
class TreePath:
    """A root-to-leaf path of a tree and the final value of the episode it ends."""

    tree: Tree
    nodes: list[Node]

    @property
    def value(self) -> float:
        return self.nodes[-1].outcome or 0.0

    @property
    def ids(self) -> list[int]:
        return [node.id for node in self.nodes]


@dataclass
class Pair:
    good: TreePath
    bad: TreePath
    split: int  # index in both paths of the first node they do not share
    error: int | None = None  # index in the bad path of the step the revision follows
    rule: str | None = None  # "model", "repeat" or "value_drop"

    def as_record(self) -> dict[str, Any]:
        """The pair as `trees.jsonl` stores it; `splice_step` counts the bad path's actions kept."""
        return {"good": self.good.ids, "bad": self.bad.ids, "good_value": self.good.value,
                "bad_value": self.bad.value, "splice_step": self.error, "critique_rule": self.rule}


def leaf_paths(tree: Tree) -> list[TreePath]:
    return [TreePath(tree, tree.path(leaf)) for leaf in tree.leaves()]


def shared_prefix(a: TreePath, b: TreePath) -> int:
    """How many nodes (from the root) the two paths share."""
    count = 0
    for x, y in zip(a.nodes, b.nodes, strict=False):
        if x.id != y.id:
            break
        count += 1
    return count


def select_pairs(paths: list[TreePath], alpha: float, beta: float, limit: int, loops_first: bool = False) -> list[Pair]:
    """(good, bad) pairs with good >= alpha and good - bad >= beta, at most `limit`.

    Each bad path (worst first; with `loops_first`, those that repeat a command to no effect first among
    equals) is paired with the best good path, the one sharing the longest prefix among equals, so the
    splice keeps as much of the real episode as possible.
    """

    def order(path: TreePath) -> tuple[float, bool, int]:
        loops = loops_first and first_repeat(path.nodes) is not None
        return path.value, not loops, path.nodes[-1].id

    goods = [p for p in paths if p.value >= alpha]
    pairs = []
    for bad in sorted(paths, key=order):
        candidates = [g for g in goods if g.value - bad.value >= beta and g is not bad]
        if not candidates or len(pairs) >= limit:
            continue
        good = max(candidates, key=lambda g: (g.value, shared_prefix(g, bad), -g.nodes[-1].id))
        pairs.append(Pair(good, bad, shared_prefix(good, bad)))
    return pairs


def good_paths(paths: list[TreePath], alpha: float, limit: int) -> list[TreePath]:
    """The best `limit` paths with value >= alpha (shortest first among equals: no wasted steps)."""
    goods = [p for p in paths if p.value >= alpha]
    return sorted(goods, key=lambda p: (-p.value, len(p.nodes), p.nodes[-1].id))[:limit]


def parse_judgement(text: str) -> str | None:
    """The reply's first word if it is Good, Bad or Uncertain (any case); None for anything else."""
    match = _FIRST_WORD.search(text or "")
    word = match.group(0).lower() if match else None
    return word if word in JUDGEMENTS else None


def critique_prompt(pair: Pair, step: int) -> list[dict[str, str]]:
    """Ask whether step `step` (an index in the bad path) was a good move, given the episode so far."""
    nodes = pair.bad.nodes
    lines = [f"Task: {nodes[0].observation}"]
    for index in range(1, step + 1):
        lines.append(f"Step {index}: {nodes[index].action or '(no command)'} -> {nodes[index].observation}")
    lines.append(f"Was step {step} Good, Bad or Uncertain?")
    return [{"role": "system", "content": CRITIQUE_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def value_drop_step(pair: Pair) -> int:
    """The first bad step (from the split) whose value is below the good path's at the same depth."""
    good, bad = pair.good.nodes, pair.bad.nodes
    for index in range(pair.split, len(bad)):
        reference = good[min(index, len(good) - 1)]
        if bad[index].value < reference.value:
            return index
    return pair.split


def first_repeat(nodes: list[Node], start: int = 1) -> int | None:
    """The first step from `start` that repeats the step before it, same command and same observation.

    Such a step changed nothing, and a policy that sees the same state again makes the same choice again:
    the start of a loop. Revising right after it teaches the policy to break the loop where it begins.
    """
    for index in range(max(start, 1), len(nodes)):
        step, before = nodes[index], nodes[index - 1]
        if step.action is not None and step.action == before.action and step.observation == before.observation:
            return index
    return None


def repeat_step(pair: Pair) -> int | None:
    """The bad path's first repeat to no effect from the split (`first_repeat`)."""
    return first_repeat(pair.bad.nodes, pair.split)


def locate_errors(pairs: list[Pair], backend: Backend | None, max_tokens: int = 4, repeats: bool = False) -> None:
    """Set each pair's error step and rule: the policy's first "Bad" judgement, else (with `repeats`) the
    first repeat to no effect, else the value drop.

    Every step from the split on is judged, all pairs in one greedy batch. A pair whose replies do not all
    parse, or hold no "Bad", was not judged by the model and falls back to the rules.
    """
    queries = [(pair, step) for pair in pairs for step in range(pair.split, len(pair.bad.nodes))]
    replies = []
    if backend is not None and queries:
        params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
        replies = [c[0].text for c in backend.generate([critique_prompt(p, s) for p, s in queries], params)]
    verdicts: dict[int, list[tuple[int, str | None]]] = {}
    for (pair, step), reply in zip(queries, replies, strict=False):
        verdicts.setdefault(id(pair), []).append((step, parse_judgement(reply)))
    for pair in pairs:
        judged = verdicts.get(id(pair), [])
        bad_steps = [step for step, verdict in judged if verdict == "bad"]
        if judged and all(verdict is not None for _, verdict in judged) and bad_steps:
            pair.error, pair.rule = bad_steps[0], "model"
        elif repeats and (loop := repeat_step(pair)) is not None:
            pair.error, pair.rule = loop, "repeat"
        else:
            pair.error, pair.rule = value_drop_step(pair), "value_drop"


def splice(pair: Pair, env_name: str, prompt_format: PromptFormat, revision_thought: str,
           round_index: int) -> Episode:
    """The revision trajectory of a pair whose error step is known.

    Turns: the bad path up to and including its error step (loss off), the revision turn (a thought and no
    command; loss on), the answer the rollout engine gives a reply without a command (so training matches
    what the agent sees when it revises), then the good path from the split (loss on).
    """
    if pair.error is None or pair.rule is None:
        raise ValueError("splice needs the pair's error step: call locate_errors first")
    tree = pair.good.tree
    prefix = tree.episode(pair.bad.nodes[pair.error], env_name, prompt_format, loss=False)
    turns = list(prefix.turns)
    splice_turn = len(turns)
    turns.append(Turn("assistant", revision_reply(revision_thought), thought=revision_thought, loss=True))
    error = pair.bad.nodes[pair.error].transition
    turns.append(prompt_format.observation_turn(no_command_answer(error.observation), error.info))
    good_leaf = pair.good.nodes[-1]
    continuation = tree.episode(good_leaf, env_name, prompt_format, loss=True).turns
    turns += continuation[2 * pair.split :]
    return Episode(
        task_id=tree.task_id,
        env=env_name,
        turns=turns,
        seed=tree.task.seed,
        success=bool(good_leaf.transition.info.get("won")),
        score=pair.good.value,
        steps=sum(turn.role == "assistant" for turn in turns),
        meta={
            "kind": "revision",
            "splice_turn": splice_turn,
            "pair": {"task_id": tree.task_id, "good": pair.good.ids, "bad": pair.bad.ids},
            "round": round_index,
            "critique_rule": pair.rule,
        },
    )


def good_episode(path: TreePath, env_name: str, prompt_format: PromptFormat, round_index: int) -> Episode:
    episode = path.tree.episode(path.nodes[-1], env_name, prompt_format, loss=True)
    episode.meta = {"kind": "good", "nodes": path.ids, "round": round_index}
    return episode
