"""The exact TextCraft expert: expands the recipe tree from the current inventory into `get`/`craft` commands.

Each item is made with a recipe of minimal depth, so every expansion strictly descends and the plan is
finite; leftovers (4 sticks made, 1 needed) stay in the simulated inventory and serve later needs, so the
counts are exact. Ties break by file name or Minecraft's tag order (oak first), never by hash order.
"""

from __future__ import annotations

from collections import Counter

from agentkit.envs.minecraft.recipes import Ingredient, Recipe, RecipeBook, display


class Unsolvable(ValueError):
    """The goal cannot be made from raw items with crafting recipes."""


def _best_recipe(book: RecipeBook, item: str) -> Recipe:
    depth = book.depth[item]

    def recipe_depth(recipe: Recipe) -> int:
        fillers = [min((book.depth[i] for i in slot.items if i in book.depth), default=depth)
                   for slot, _ in recipe.inputs]
        return 1 + max(fillers)

    usable = [r for r in book.recipes[item] if recipe_depth(r) == depth]
    return min(usable, key=lambda r: (len(r.inputs), sum(n for _, n in r.inputs), r.source))


def _filler(book: RecipeBook, slot: Ingredient, needed: int, inventory: Counter[str], limit: int) -> str:
    """The item to fill `slot` with: one already held in full, else the shallowest makeable one."""
    held = [item for item in slot.items if inventory[item] >= needed]
    if held:
        return held[0]
    makeable = [item for item in slot.items if book.depth.get(item, limit) < limit]
    return min(makeable, key=lambda item: (book.depth[item], -inventory[item], slot.items.index(item)))


def plan(book: RecipeBook, goal: str, inventory: dict[str, int], count: int = 1) -> list[str]:
    """Commands that craft `count` more of `goal` from `inventory` (minimal depth, exact counts)."""
    if goal not in book.depth:
        raise Unsolvable(f"{goal!r} cannot be crafted from raw items")
    stock: Counter[str] = Counter(inventory)
    actions: list[str] = []

    def acquire(item: str, needed: int) -> None:
        missing = needed - stock[item]
        if missing <= 0:
            return
        if item in book.raw:
            actions.append(f"get {missing} {display(item)}")
            stock[item] += missing
            return
        recipe = _best_recipe(book, item)
        times = -(-missing // recipe.count)
        parts = []
        for slot, n in recipe.inputs:
            filler = _filler(book, slot, n * times, stock, book.depth[item])
            acquire(filler, n * times)
            stock[filler] -= n * times  # reserved: deeper crafts for the next slots must not use it
            parts.append((filler, n * times))
        stock[item] += recipe.count * times
        used = ", ".join(f"{n} {display(filler)}" for filler, n in parts)
        actions.append(f"craft {recipe.count * times} {display(item)} using {used}")

    acquire(goal, stock[goal] + count)
    return actions
