"""TextCraft: craft a target Minecraft item from raw materials with text commands.

In the spirit of TextCraft (Prasad et al., ADaPT) but implemented here over `recipes.RecipeBook`: the
first observation lists the crafting commands of the goal's recipe tree mixed with distractors that use
the same ingredients, in an order fixed by the seed. Actions: `get N ITEM` (raw items only),
`craft N ITEM using N ITEM, N ITEM` and `inventory`; the admissible commands are the listed crafting
commands, `get N ITEM` for each raw ingredient and amount they take, the commands of the expert's plan
from the start (which name items, not tags, and may apply a recipe several times at once:
`craft 8 stick using 4 oak planks`), so an agent choosing among them can play the expert's episode,
and `inventory`. A tag in a command (`2 planks`) accepts any of its items.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from typing import Any

from agentkit.envs.base import EnvError, TextEnv
from agentkit.envs.minecraft.planner import plan
from agentkit.envs.minecraft.recipes import Ingredient, Recipe, RecipeBook, display, load_recipe_book

SPLITS = ("train", "test")
TEST_PERCENT = 20  # share of goal items held out, chosen by a hash of the item id

_COUNTED = re.compile(r"^(?:(\d+)\s+)?(.+)$")


def split_of(item: str) -> str:
    """The split an item belongs to; a stable hash, so adding recipes never moves other goals."""
    bucket = int(hashlib.sha256(item.encode()).hexdigest(), 16) % 100
    return "test" if bucket < TEST_PERCENT else "train"


def _normalize(action: str) -> str:
    text = " ".join(action.strip().lower().split())
    return text.removeprefix(">").strip().rstrip(".").strip()


class TextCraftEnv(TextEnv):
    """Craft the goal item. Reward 1 when it is crafted; truncated after `max_steps` actions (by `make()`)."""

    name = "textcraft"

    def __init__(self, split: str = "train", depth: int | None = None, max_steps: int = 40,
                 n_distractors: int = 10) -> None:
        if split not in SPLITS:
            raise EnvError(f"split must be one of {SPLITS}, got {split!r}")
        if not isinstance(max_steps, int) or max_steps < 1:
            raise EnvError(f"max_steps must be a positive int, got {max_steps!r}")
        if not isinstance(n_distractors, int) or n_distractors < 0:
            raise EnvError(f"n_distractors must be an int >= 0, got {n_distractors!r}")
        self.book: RecipeBook = load_recipe_book()
        goals = [g for g in self.book.goals() if g in self.book.depth and split_of(g) == split]
        if depth is not None:
            goals = [g for g in goals if self.book.depth[g] == depth]
            if not goals:
                known = sorted({self.book.depth[g] for g in self.book.goals() if g in self.book.depth})
                raise EnvError(f"no {split} goals of depth={depth!r}; depths are {known}")
        self.split, self.depth, self.max_steps, self.n_distractors = split, depth, max_steps, n_distractors
        self._goals = goals
        self._rng = random.Random()
        self._goal: str | None = None
        self._inventory: Counter[str] = Counter()
        self._admissible: list[str] = []

    def task_ids(self) -> list[str]:
        return list(self._goals)

    # -- episode -------------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        if seed is not None:
            self._rng = random.Random(seed)
        task_id = (options or {}).get("task_id")
        if task_id is None and seed is not None:
            task_id = self._goals[seed % len(self._goals)]
        elif task_id is None:
            task_id = self._rng.choice(self._goals)
        if task_id not in self._goals:
            raise EnvError(f"task_id {task_id!r} is not a goal of this env (split={self.split!r}, "
                           f"depth={self.depth!r}); see task_ids()")
        self._goal, self._inventory = task_id, Counter()
        commands, listed = self._listing(task_id)
        # A raw ingredient is listed with each amount a listed recipe takes (`get 4 acacia log` for
        # `craft 3 acacia wood using 4 acacia log`); the expert's plan from here adds the commands it words
        # differently (items for tags, several applications at once), so its episode is made of listed ones.
        gets = {(i, n) for r in listed for slot, n in r.inputs for i in slot.items if i in self.book.raw}
        menu = commands + [f"get {n} {display(i)}" for i, n in sorted(gets)]
        expert = [command for command in plan(self.book, task_id, self._inventory) if command not in menu]
        self._admissible = menu + list(dict.fromkeys(expert)) + ["inventory"]
        groups = sorted({slot.name: slot for r in listed for slot, _ in r.inputs if slot.is_group}.items())
        lines = ["Crafting commands:", *commands]
        if groups:
            lines += ["", "Item groups (any one item of a group fills it):"]
            lines += [f"{name}: {', '.join(display(i) for i in slot.items)}" for name, slot in groups]
        lines += ["", f"Goal: craft {display(task_id)}."]
        return "\n".join(lines), self._info(won=False)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if not isinstance(action, str):
            raise EnvError(f"an action must be a str, got {type(action).__name__}")
        observation, crafted = self._act(_normalize(action))
        won = crafted == self._goal
        if won:
            observation += f"\nGoal reached: you crafted {display(self._goal)}."
        return observation, 1.0 if won else 0.0, won, False, self._info(won)

    def expert_action(self) -> str:
        return plan(self.book, self._goal, self._inventory)[0]

    def _info(self, won: bool) -> dict:
        return {"won": won, "admissible_actions": list(self._admissible), "task_id": self._goal,
                "depth": self.book.depth[self._goal]}

    # -- observation ---------------------------------------------------------------------------------

    def _tree(self, goal: str) -> list[Recipe]:
        """Every makeable recipe in the goal's tree, through the shallowest items of each tag it meets."""
        seen: set[str] = set()
        recipes: list[Recipe] = []
        stack = [goal]
        while stack:
            item = stack.pop()
            if item in seen or item in self.book.raw or item not in self.book.depth:
                continue
            seen.add(item)
            for recipe in self.book.recipes[item]:
                fillers = [self._shallowest(slot) for slot, _ in recipe.inputs]
                if all(fillers):
                    recipes.append(recipe)
                    stack.extend(i for items in fillers for i in items)
        return recipes

    def _shallowest(self, slot: Ingredient) -> list[str]:
        """The slot's items of least depth: `oak logs` need no `oak wood` recipe, since an oak log is raw."""
        depths = {i: self.book.depth[i] for i in slot.items if i in self.book.depth}
        return [i for i, d in depths.items() if d == min(depths.values())]

    def _listing(self, goal: str) -> tuple[list[str], list[Recipe]]:
        """The shuffled crafting commands (tree plus distractors) and the recipes behind them."""
        tree = self._tree(goal)
        relevant = {r.command() for r in tree}
        ingredients = {i for r in tree for slot, _ in r.inputs for i in slot.items}
        pool = sorted({r.command(): r for i in ingredients for r in self.book.uses.get(i, ())
                       if r.command() not in relevant}.items())
        distractors = self._rng.sample(pool, min(self.n_distractors, len(pool)))
        commands = sorted(relevant) + [c for c, _ in distractors]
        self._rng.shuffle(commands)
        return commands, tree + [r for _, r in distractors]

    # -- actions -------------------------------------------------------------------------------------

    def _act(self, action: str) -> tuple[str, str | None]:
        """Apply a normalized action; returns (observation, the item crafted or None)."""
        if action in ("inventory", "check inventory", "inv", "i"):
            return self._inventory_text(), None
        verb, _, rest = action.partition(" ")
        try:
            if verb == "get":
                return self._get(rest), None
            if verb == "craft":
                return self._craft(rest)
        except _ActionError as exc:
            return str(exc), None
        return (f"Unknown action {action!r}. Use 'get N ITEM', 'craft N ITEM using N ITEM, N ITEM' or "
                "'inventory'."), None

    def _inventory_text(self) -> str:
        if not self._inventory:
            return "Inventory: you are not carrying anything."
        return "Inventory: " + " ".join(f"[{display(i)}] ({n})" for i, n in sorted(self._inventory.items()))

    def _lookup(self, text: str) -> str | Ingredient:
        """An item id or a group named by free text (`Oak_Planks`, `minecraft:stick`, `sticks`)."""
        key = " ".join(text.replace("_", " ").split())
        key = " ".join(word.removeprefix("minecraft:") for word in key.split())
        if key in self.book.groups:
            return self.book.groups[key]
        for candidate in (key, key[:-1] if key.endswith("s") else None):
            if candidate and self.book.is_known(candidate.replace(" ", "_")):
                return candidate.replace(" ", "_")
        raise _ActionError(f"Unknown item {text.strip()!r}.")

    def _counted(self, text: str) -> tuple[int, str | Ingredient]:
        match = _COUNTED.match(text.strip())
        if match is None or not match.group(2).strip():
            raise _ActionError(f"Could not read {text.strip()!r}; write it as 'N ITEM', e.g. '2 stick'.")
        count = int(match.group(1) or 1)
        if count < 1:
            raise _ActionError(f"The count in {text.strip()!r} must be at least 1.")
        return count, self._lookup(match.group(2))

    def _get(self, rest: str) -> str:
        count, item = self._counted(rest)
        if isinstance(item, Ingredient):
            raws = [display(i) for i in item.items if i in self.book.raw]
            if raws:
                raise _ActionError(f"{item.name} is a group of items; get one of them: {', '.join(raws)}.")
            crafted = ", ".join(display(i) for i in item.items)
            raise _ActionError(f"{item.name} is a group of crafted items ({crafted}); craft one of them.")
        if item not in self.book.raw:
            raise _ActionError(f"Could not find {display(item)}; it has to be crafted.")
        self._inventory[item] += count
        return f"Got {count} {display(item)}"

    def _craft(self, rest: str) -> tuple[str, str]:
        target, sep, inputs_text = rest.partition(" using ")
        if not sep:
            raise _ActionError("Write crafting as 'craft N ITEM using N ITEM, N ITEM'.")
        wanted, output = self._counted(target)
        if isinstance(output, Ingredient) or output not in self.book.recipes:
            name = output.name if isinstance(output, Ingredient) else display(output)
            raise _ActionError(f"There is no crafting recipe for {name}.")
        inputs = self._inputs(inputs_text)
        for recipe in self.book.recipes[output]:
            times = _applications(recipe, inputs)
            if times is None:
                continue
            made = recipe.count * times
            if re.match(r"^\s*\d", target) and wanted != made:
                raise _ActionError(f"Those ingredients make {made} {display(output)}, not {wanted}.")
            self._consume(inputs)
            self._inventory[output] += made
            return f"Crafted {made} {display(output)}", output
        options = "; ".join(r.command() for r in self.book.recipes[output])
        raise _ActionError(f"Could not craft {display(output)} from those ingredients. Recipes: {options}.")

    def _inputs(self, text: str) -> list[tuple[int, str | Ingredient]]:
        """Comma-separated `N ITEM`s; `and` also separates, unless it belongs to a name (flint and steel)."""
        entries = []
        for part in filter(str.strip, text.split(",")):
            try:
                entries.append(self._counted(part))
            except _ActionError:
                pieces = [piece for piece in re.split(r"\band\b", part) if piece.strip()]
                if len(pieces) < 2:
                    raise
                entries += [self._counted(piece) for piece in pieces]
        return entries

    def _consume(self, inputs: list[tuple[int, str | Ingredient]]) -> None:
        """Take the inputs out of the inventory, or raise naming the first shortfall (nothing is taken)."""
        left = Counter(self._inventory)
        for count, item in sorted(inputs, key=lambda entry: isinstance(entry[1], Ingredient)):
            members = item.items if isinstance(item, Ingredient) else (item,)
            need = count
            for member in members:
                take = min(need, left[member])
                left[member] -= take
                need -= take
            if need:
                name = item.name if isinstance(item, Ingredient) else display(item)
                have = sum(self._inventory[m] for m in members)
                raise _ActionError(f"Could not craft: not enough {name} (need {count}, have {have}).")
        self._inventory = +left


class _ActionError(Exception):
    """An action the env cannot apply; its message is the observation."""


def _applications(recipe: Recipe, inputs: list[tuple[int, str | Ingredient]]) -> int | None:
    """How many times `inputs` apply `recipe` (same slots, counts a common multiple), or None."""
    totals: Counter[int] = Counter()
    for count, item in inputs:
        slots = [k for k, (slot, _) in enumerate(recipe.inputs)
                 if (slot == item if isinstance(item, Ingredient) else item in slot.items)]
        if len(slots) != 1:
            return None
        totals[slots[0]] += count
    if len(totals) != len(recipe.inputs):
        return None
    ratios = {totals[k] / n for k, (_, n) in enumerate(recipe.inputs)}
    times = ratios.pop()
    return int(times) if not ratios and times == int(times) and times >= 1 else None
