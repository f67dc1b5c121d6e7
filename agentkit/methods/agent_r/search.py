"""Monte Carlo tree search over an agent's own actions, as Agent-R builds its good and bad paths.

Each tree searches one task with the current policy: selection by UCT (unvisited children first),
expansion by sampling `candidates` replies from the policy (replies naming the same command are merged),
simulation by letting the policy play on to a terminal state, and back-up of that episode's final value.
Simulated steps join the tree, so every leaf ends a complete episode with a known outcome.

Envs have no snapshots: a node's state is reached by resetting the task and replaying the actions on its
path. `Replayer` caches every transition by its action prefix, so a known step is never stepped again just
to read its observation, and a replay starts from where the env already is when that is on the way.

Many trees advance together: one batched `Backend.generate` per phase (expansion, each simulation step)
covers every tree, so the policy is never called once per node.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from agentkit.envs.base import TextEnv
from agentkit.prompts import PromptFormat, parse_action
from agentkit.rollout.admissible import ActionSpace, check_action_space, sample_replies
from agentkit.rollout.backend import Backend
from agentkit.rollout.engine import Task, no_command_answer
from agentkit.rollout.sampling import SamplingParams
from agentkit.trajectory import Episode, Turn


@dataclass(frozen=True)
class MCTSConfig:
    """Args:
    iterations: selection-expansion-simulation-backup cycles per tree.
    exploration: c in UCT's Q + c * sqrt(ln N_parent / n_child).
    candidates: replies sampled per expansion (k); duplicates are merged.
    max_depth: a path ends after this many actions (None: the env's step limit).
    discount: a leaf's outcome is its episode's final value times discount^(steps - 1), so of two wins
        the shorter is worth more to the search and to Agent-R's alpha/beta filters (1: every win is 1).
    temperature, top_p, max_tokens: sampling of expansions and simulations.
    action_space: `text` samples free replies; `admissible` / `admissible_sum` draw each from the node's
        admissible commands by the policy's log-probability of it, per token or whole
        (`agentkit.rollout.admissible`).
    seed: sampling seed (each generate call draws from seed + its call number).
    """

    iterations: int = 4
    exploration: float = 0.25
    candidates: int = 4
    max_depth: int | None = None
    discount: float = 1.0
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 24
    seed: int = 0
    action_space: ActionSpace = "text"

    def __post_init__(self) -> None:
        for name in ("iterations", "candidates"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be an int >= 1")
        if self.max_depth is not None and (not isinstance(self.max_depth, int) or self.max_depth < 1):
            raise ValueError(f"max_depth={self.max_depth!r} must be None or an int >= 1")
        if not 0 < self.discount <= 1:
            raise ValueError(f"discount={self.discount!r} must be in (0, 1]")
        if self.exploration < 0:
            raise ValueError(f"exploration={self.exploration!r} must be >= 0")
        check_action_space(self.action_space)


@dataclass
class Transition:
    """What the env answered to one action (or, for the root, to the reset)."""

    observation: str
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Node:
    """One state of a task: reached from `parent` by `action` (the root has none).

    `outcome` is the final value of the episode a terminal node ends; `value` is the mean of the outcomes
    backed up through the node.
    """

    id: int
    parent: int | None
    action: str | None
    thought: str | None
    reply: str
    transition: Transition
    depth: int
    terminal: bool = False
    outcome: float | None = None
    visits: int = 0
    value_sum: float = 0.0
    expanded: bool = False
    children: list[int] = field(default_factory=list)
    token_ids: list[int] | None = None

    @property
    def value(self) -> float:
        return self.value_sum / self.visits if self.visits else 0.0

    @property
    def observation(self) -> str:
        return self.transition.observation

    def as_record(self) -> dict[str, Any]:
        """The node as `trees.jsonl` stores it."""
        return {
            "id": self.id,
            "parent": self.parent,
            "action": self.action,
            "thought": self.thought,
            "observation": self.observation,
            "visits": self.visits,
            "value": self.value,
            "reward": self.transition.reward,
            "terminal": self.terminal,
            "depth": self.depth,
        }


def normalize_command(action: str | None) -> str | None:
    """Commands that differ only in case or spacing are the same move (merged on expansion)."""
    return None if action is None else " ".join(action.lower().split())


def uct_score(value: float, visits: int, parent_visits: int, exploration: float) -> float:
    """Q + c * sqrt(ln N_parent / n_child); an unvisited child scores infinity, so it is tried first."""
    if visits == 0:
        return math.inf
    return value + exploration * math.sqrt(math.log(max(parent_visits, 1)) / visits)


def outcome_value(transition: Transition) -> float:
    """An episode's final value: 1 for a win, else the share of the maximum score reached (0 without one)."""
    info = transition.info
    if info.get("won"):
        return 1.0
    score, best = info.get("score"), info.get("max_score")
    if isinstance(score, int | float) and isinstance(best, int | float) and best > 0:
        return max(0.0, min(1.0, score / best))
    return 0.0


class Replayer:
    """One env that reaches any action prefix of one task by reset + replay, with every transition cached.

    `resets`, `env_steps` and `cache_hits` count the work done and saved (a replayed step counts as an
    env step). Replies without a command never reach the env: they get the engine's invalid-reply answer.
    """

    def __init__(self, env: TextEnv, task: Task):
        self.env = env
        self.task = task
        self.cache: dict[tuple[str | None, ...], Transition] = {}
        self._position: tuple[str, ...] | None = None  # the commands the env has executed since its reset
        self.resets = 0
        self.env_steps = 0
        self.cache_hits = 0

    def root(self) -> Transition:
        if () not in self.cache:
            self.cache[()] = self._reset()
        else:
            self.cache_hits += 1
        return self.cache[()]

    def transition(self, prefix: Sequence[str | None], action: str | None) -> Transition:
        """The env's answer to `action` after the actions of `prefix`, stepping the env only if unknown."""
        key = (*prefix, action)
        if key in self.cache:
            self.cache_hits += 1
            return self.cache[key]
        if action is None:
            before = self.cache[tuple(prefix)] if prefix else self.root()
            result = Transition(no_command_answer(before.observation), info={**before.info, "invalid": True})
        else:
            try:
                self._go_to([a for a in prefix if a is not None])
                observation, reward, terminated, truncated, info = self.env.step(action)
                self.env_steps += 1
                self._position = (*self._position, action)
                result = Transition(observation, float(reward), bool(terminated), bool(truncated), info)
            except Exception as exc:  # a crashed or hung env ends this path as a failure, not the search
                self._position = None
                result = Transition(f"env error: {type(exc).__name__}: {exc}", info={"won": False},
                                    error=f"{type(exc).__name__}: {exc}")
        self.cache[key] = result
        return result

    def _reset(self) -> Transition:
        options = None if self.task.task_id is None else {"task_id": self.task.task_id}
        observation, info = self.env.reset(seed=self.task.seed, options=options)
        self.resets += 1
        self._position = ()
        return Transition(observation, info=info)

    def _go_to(self, commands: list[str]) -> None:
        position = self._position
        if position is None or tuple(commands[: len(position)]) != position:
            self._reset()
            position = ()
        for command in commands[len(position) :]:
            self.env.step(command)
            self.env_steps += 1
        self._position = tuple(commands)


class Tree:
    """The search tree of one task."""

    def __init__(self, task: Task, replayer: Replayer, max_depth: int, discount: float = 1.0):
        self.task = task
        self.replayer = replayer
        self.max_depth = max_depth
        self.discount = discount
        root = replayer.root()
        self.task_id = str(root.info.get("task_id", task.task_id or f"seed-{task.seed}"))
        self.nodes: list[Node] = [Node(0, None, None, None, "", root, 0)]

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def path(self, node: Node) -> list[Node]:
        """The nodes from the root to `node`."""
        nodes = [node]
        while nodes[-1].parent is not None:
            nodes.append(self.nodes[nodes[-1].parent])
        return nodes[::-1]

    def actions(self, node: Node) -> list[str | None]:
        return [n.action for n in self.path(node)[1:]]

    def add_child(self, parent: Node, reply: str, token_ids: list[int] | None = None) -> Node:
        """The child for `reply`'s command: an existing child with the same command, or a new stepped one."""
        thought, action = parse_action(reply)
        for child_id in parent.children:
            if normalize_command(self.nodes[child_id].action) == normalize_command(action):
                return self.nodes[child_id]
        transition = self.replayer.transition(self.actions(parent), action)
        depth = parent.depth + 1
        terminal = (
            transition.terminated or transition.truncated or transition.error is not None or depth >= self.max_depth
        )
        node = Node(len(self.nodes), parent.id, action, thought, reply, transition, depth, terminal,
                    token_ids=token_ids)
        if terminal:
            node.outcome = outcome_value(transition) * self.discount ** (depth - 1)
        self.nodes.append(node)
        parent.children.append(node.id)
        return node

    def select_child(self, node: Node, exploration: float) -> Node:
        """The child with the best UCT score (unvisited first; ties go to the earliest child)."""
        return max((self.nodes[c] for c in node.children),
                   key=lambda child: uct_score(child.value, child.visits, node.visits, exploration))

    def select(self, exploration: float) -> Node:
        """Descend by UCT from the root to a node to simulate from, expand, or (if terminal) score again."""
        node = self.root
        while node.expanded and not node.terminal:
            node = self.select_child(node, exploration)
            if node.visits == 0:
                break
        return node

    def backup(self, node: Node, value: float) -> None:
        for step in self.path(node):
            step.visits += 1
            step.value_sum += value

    def leaves(self) -> list[Node]:
        """Terminal nodes: each ends one complete episode of the search."""
        return [node for node in self.nodes if node.terminal]

    def episode(self, node: Node, env_name: str, prompt_format: PromptFormat, loss: bool = True) -> Episode:
        """The path to `node` as an ordinary episode (system turn, observations, replies)."""
        turns = [Turn("system", prompt_format.system_prompt()),
                 prompt_format.observation_turn(self.root.observation, self.root.transition.info)]
        score = 0.0
        for step in self.path(node)[1:]:
            turns.append(Turn("assistant", step.reply, thought=step.thought, action=step.action, loss=loss,
                              reward=step.transition.reward, token_ids=step.token_ids))
            turns.append(prompt_format.observation_turn(step.observation, step.transition.info))
            score += step.transition.reward
        last = node.transition
        return Episode(self.task_id, env_name, turns, seed=self.task.seed, success=bool(last.info.get("won")),
                       score=score, steps=node.depth, error=last.error)

    def as_record(self, env_name: str, round_index: int, pairs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"task_id": self.task_id, "env": env_name, "round": round_index,
                "nodes": [node.as_record() for node in self.nodes], "pairs": pairs}


@dataclass
class SearchStats:
    trees: int = 0
    nodes: int = 0
    leaves: int = 0
    winning_leaves: int = 0
    generate_calls: int = 0
    resets: int = 0
    env_steps: int = 0
    cache_hits: int = 0


class Search:
    """MCTS over many tasks at once with one policy behind a backend."""

    def __init__(self, backend: Backend, prompt_format: PromptFormat, settings: MCTSConfig):
        self.backend = backend
        self.prompt_format = prompt_format
        self.settings = settings
        self.generate_calls = 0

    def _sample(self, trees_nodes: list[tuple[Tree, Node]], n: int) -> list[list]:
        s = self.settings
        params = SamplingParams(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens, n=n,
                                seed=s.seed + self.generate_calls)
        self.generate_calls += 1
        prompts = [self.prompt_format.messages_for(tree.episode(node, "", self.prompt_format).turns)
                   for tree, node in trees_nodes]
        admissible = [node.transition.info.get("admissible_actions") for _, node in trees_nodes]
        return sample_replies(self.backend, prompts, admissible, self.prompt_format, params, s.action_space)

    def _expand(self, targets: list[tuple[Tree, Node]]) -> list[tuple[Tree, Node]]:
        """Sample k replies at every target node (one batch) and return the child each simulation starts at."""

        def grow(item: tuple[tuple[Tree, Node], list]) -> tuple[Tree, Node]:
            (tree, node), completions = item
            for completion in completions:
                tree.add_child(node, completion.text, completion.token_ids)
            node.expanded = True
            return tree, tree.select_child(node, self.settings.exploration)

        sampled = self._sample(targets, self.settings.candidates)
        return list(self._pool.map(grow, zip(targets, sampled, strict=True)))

    def _simulate(self, starts: list[tuple[Tree, Node]]) -> list[tuple[Tree, Node]]:
        """Play every start on to a terminal node, one batched generate per step for all of them."""

        def step(item: tuple[tuple[Tree, Node], list]) -> tuple[Tree, Node]:
            (tree, node), completions = item
            return tree, tree.add_child(node, completions[0].text, completions[0].token_ids)

        live = list(starts)
        ended = []
        while live:
            ended += [(tree, node) for tree, node in live if node.terminal]
            live = [(tree, node) for tree, node in live if not node.terminal]
            if live:
                live = list(self._pool.map(step, zip(live, self._sample(live, 1), strict=True)))
        return ended

    def run(self, trees: list[Tree]) -> None:
        """`iterations` MCTS cycles on every tree. Each tree has its own env; envs that may step from
        threads at once (each in its own process) step in parallel across trees."""
        parallel = all(tree.replayer.env.thread_safe for tree in trees)
        with ThreadPoolExecutor(max_workers=max(1, len(trees)) if parallel else 1) as self._pool:
            for _ in range(self.settings.iterations):
                selected = [(tree, tree.select(self.settings.exploration)) for tree in trees]
                to_expand = [(t, n) for t, n in selected if not n.terminal and n.visits > 0]
                ready = [(t, n) for t, n in selected if n.terminal or n.visits == 0]
                starts = ready + (self._expand(to_expand) if to_expand else [])
                for tree, leaf in self._simulate(starts):
                    tree.backup(leaf, leaf.outcome)

    def stats(self, trees: list[Tree]) -> SearchStats:
        leaves = [leaf for tree in trees for leaf in tree.leaves()]
        return SearchStats(
            trees=len(trees),
            nodes=sum(len(tree.nodes) for tree in trees),
            leaves=len(leaves),
            winning_leaves=sum(bool(leaf.transition.info.get("won")) for leaf in leaves),
            generate_calls=self.generate_calls,
            resets=sum(tree.replayer.resets for tree in trees),
            env_steps=sum(tree.replayer.env_steps for tree in trees),
            cache_hits=sum(tree.replayer.cache_hits for tree in trees),
        )


def build_trees(
    env_factory: Callable[[], TextEnv], tasks: list[Task], max_depth: int | None, discount: float = 1.0
) -> tuple[list[Tree], list[tuple[Task, str]]]:
    """One tree (and one env of its own) per task; the depth limit defaults to the env's step limit.

    Returns the trees and the tasks whose env failed to start or reset, each with its error.
    """
    trees, failed = [], []
    for task in tasks:
        env = env_factory()
        try:
            trees.append(Tree(task, Replayer(env, task), max_depth or env.max_steps, discount))
        except Exception as exc:  # a missing or corrupt task fails alone
            env.close()
            failed.append((task, f"{type(exc).__name__}: {exc}"))
    return trees, failed


def close_trees(trees: list[Tree]) -> None:
    for tree in trees:
        tree.replayer.env.close()
