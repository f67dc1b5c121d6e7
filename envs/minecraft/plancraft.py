"""Plancraft (Dagan et al.) behind the text interface: its crafting grid, its actions, its planner as expert.

Everything comes from the `plancraft` package (the `minecraft` extra), imported lazily so the core never
needs it: the examples and splits, the real `PlancraftEnvironment` (a 3x3 grid, output slot [0] and 36
inventory slots), its action parsers (`move`, `smelt`, `impossible`), its text observation and its
optimal planner `get_subplans`. Examples are deep-copied before use: the package mutates them in place.
One `PlancraftEnvironment` is built per env and reset per episode, since building one loads every
item image; frames are never requested, as observations here are text.
"""

from __future__ import annotations

import copy
import functools
from types import SimpleNamespace
from typing import Any

from agentkit.envs.base import EnvError, TextEnv

SPLITS = ("train", "val", "test", "val.small", "val.small.easy", "test.small", "test.small.easy")
IMPOSSIBLE_REASON = "the target cannot be crafted from this inventory"


def _plancraft() -> SimpleNamespace:
    """The lazily imported `plancraft` modules, or an EnvError saying how to install them."""
    try:
        import plancraft.environment.actions as actions  # noqa: PLC0415  (optional dependency)
        import plancraft.environment.env as env  # noqa: PLC0415
        import plancraft.environment.planner as planner  # noqa: PLC0415
        import plancraft.environment.prompts as prompts  # noqa: PLC0415
        import plancraft.simple as simple  # noqa: PLC0415
    except ImportError as exc:
        raise EnvError(f"env 'plancraft' needs the plancraft package ({exc}): "
                       "pip install 'agentkit[minecraft]'") from exc
    return SimpleNamespace(actions=actions, env=env, planner=planner, prompts=prompts, simple=simple)


@functools.lru_cache(maxsize=len(SPLITS))
def load_examples(split: str) -> tuple[Any, ...]:
    """The split's `PlancraftExample`s, loaded once; never mutate them (reset deep-copies)."""
    if split not in SPLITS:
        raise EnvError(f"split must be one of {SPLITS}, got {split!r}")
    return tuple(_plancraft().simple.get_plancraft_examples(split))


class PlancraftEnv(TextEnv):
    """Craft the target by moving items on a 3x3 grid (or `smelt`, or declare `impossible`).

    Reward 1 when the target reaches an inventory slot, or when `impossible` is declared on an impossible
    example; a wrong `impossible` ends the episode with 0. Truncated after `max_steps` actions (by `make()`).
    """

    name = "plancraft"

    def __init__(self, split: str = "val", max_steps: int = 30) -> None:
        if not isinstance(max_steps, int) or max_steps < 1:
            raise EnvError(f"max_steps must be a positive int, got {max_steps!r}")
        self._pc = _plancraft()
        self.split, self.max_steps = split, max_steps
        self._examples = {example.id: example for example in load_examples(split)}
        self._handlers = [self._pc.actions.MoveActionHandler(), self._pc.actions.SmeltActionHandler(),
                          self._pc.actions.ImpossibleActionHandler()]
        self._instructions = self._pc.prompts.get_system_prompt(self._handlers)["content"]
        self._grid = self._pc.env.PlancraftEnvironment(resolution="low")
        self._example: Any = None
        self._plan: list[str] = []

    def task_ids(self) -> list[str]:
        return list(self._examples)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        task_id = (options or {}).get("task_id")
        if task_id is None:
            ids = self.task_ids()
            task_id = ids[(seed or 0) % len(ids)]
        if task_id not in self._examples:
            raise EnvError(f"task_id {task_id!r} is not in plancraft split {self.split!r}; see task_ids()")
        self._example = self._examples[task_id]
        self._grid.reset(copy.deepcopy(self._example.slotted_inventory))
        self._plan = []
        return f"{self._instructions}\n\n{self._state_text()}", self._info(won=False)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self._plan and self._plan[0] == action:
            self._plan.pop(0)
        else:
            self._plan = []  # the agent left the expert's plan: replan on the next expert_action()
        parsed = self._parse(action)
        won = terminated = False
        if isinstance(parsed, str):
            observation = f"{parsed}\n{self._state_text()}"
        elif isinstance(parsed, self._pc.actions.StopAction):
            won, terminated = bool(self._example.impossible), True
            observation = ("Correct: the target cannot be crafted." if won
                           else "Wrong: the target could be crafted from this inventory.")
        else:
            if parsed.action_type == "move":
                self._grid.move_item(parsed.slot_from, parsed.slot_to, parsed.quantity)
            else:
                self._grid.smelt_item(parsed.slot_from, parsed.slot_to, parsed.quantity)
            self._grid.clean_state()
            won = terminated = any(item["type"] == self._example.target and slot != 0
                                   for slot, item in self._grid.state.items())
            observation = self._state_text()
        return observation, 1.0 if won else 0.0, terminated, False, self._info(won)

    def expert_action(self) -> str:
        """The next step of plancraft's optimal planner, replanned whenever the agent left its plan."""
        if not self._plan:
            observation = {"inventory": copy.deepcopy(self._grid.state), "target": self._example.target}
            subplans, _ = self._pc.planner.get_subplans(observation)
            self._plan = [step for subplan in subplans for step in subplan]
        action = self._plan[0]
        if action.strip() == "impossible:":
            self._plan[0] = action = f"impossible: {IMPOSSIBLE_REASON}"
        return action

    def _parse(self, text: str) -> Any:
        """A plancraft action object, or the package's own message for a malformed action."""
        for handler in self._handlers:
            matched = handler.match(text)
            if matched:
                return matched
        return "Only select actions from the following: move, smelt, impossible."

    def _state_text(self) -> str:
        return self._pc.env.target_and_inventory_to_text_obs(self._example.target, self._grid.state)

    def _info(self, won: bool) -> dict:
        return {"won": won, "task_id": self._example.id, "target": self._example.target}
