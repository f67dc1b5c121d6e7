"""TextCraft: the recipe graph, the exact expert, action parsing and the env contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit.envs import EnvError, TextEnv, check_env, make
from agentkit.envs.minecraft.planner import Unsolvable, plan
from agentkit.envs.minecraft.recipes import RecipeDataError, display, load_recipe_book
from agentkit.envs.minecraft.textcraft import TextCraftEnv, split_of


@pytest.fixture(scope="module")
def book():
    return load_recipe_book()


def _recipe(book, output: str, *ingredients: str):
    """The recipe of `output` whose slots are named exactly `ingredients`."""
    for recipe in book.recipes[output]:
        if sorted(slot.name for slot, _ in recipe.inputs) == sorted(ingredients):
            return recipe
    raise AssertionError(f"no recipe {output} <- {ingredients}")


# -- recipe data --------------------------------------------------------------------------------------


def test_recipe_counts_are_exact(book):
    stick = _recipe(book, "stick", "planks")
    assert (stick.count, stick.inputs[0][1]) == (4, 2)
    table = _recipe(book, "crafting_table", "planks")
    assert (table.count, table.inputs[0][1]) == (1, 4)
    planks = _recipe(book, "oak_planks", "oak logs")
    assert planks.count == 4 and planks.inputs[0][0].items[0] == "oak_log"
    torch = _recipe(book, "torch", "stick", "coal or charcoal")
    assert torch.count == 4 and torch.command() == "craft 4 torch using 1 stick, 1 coal or charcoal"
    assert torch.command(times=3) == "craft 12 torch using 3 stick, 3 coal or charcoal"


def test_raw_items_and_depths(book):
    # furnace products (iron ingot, diamond) are raw: the env has no furnace
    assert {"oak_log", "iron_ingot", "diamond", "string", "cobblestone"} <= book.raw
    assert "stick" not in book.raw and "crafting_table" not in book.raw
    assert book.depth["oak_planks"] == 1 and book.depth["stick"] == 1  # 2 bamboo -> 1 stick
    assert book.depth["crafting_table"] == 2
    assert book.depth["iron_block"] == 1  # the 9-ingot unpacking recipe is dropped, packing is kept
    assert all(r.inputs[0][0].items != ("iron_block",) for r in book.recipes["iron_ingot"])
    unsolvable = [g for g in book.goals() if g not in book.depth]
    assert unsolvable == ["honey_block", "honey_bottle"]  # a crafting cycle with no raw entry
    with pytest.raises(Unsolvable, match="honey_block"):
        plan(book, "honey_block", {})


def test_group_names_never_shadow_item_names(book):
    items = {display(i) for i in book.recipes} | {display(i) for i in book.raw}
    assert set(book.groups).isdisjoint(items)
    assert book.groups["planks"].items[0] == "oak_planks"


def test_recipe_book_is_cached_and_immutable(book):
    assert load_recipe_book() is book
    assert isinstance(book.recipes["stick"], tuple)
    env = TextCraftEnv()
    before = {item: len(recipes) for item, recipes in book.recipes.items()}
    for seed in range(5):
        env.reset(seed=seed)
    assert {item: len(recipes) for item, recipes in book.recipes.items()} == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "bad.json: not valid JSON"),
        ('{"type": "minecraft:crafting_shapeless", "ingredients": [{"tag": "minecraft:nope"}],'
         ' "result": {"item": "minecraft:x"}}', "unknown item tag 'minecraft:nope'"),
        ('{"type": "minecraft:crafting_shapeless", "ingredients": [{"item": "minecraft:a"}],'
         ' "result": {"item": "minecraft:x", "count": 0}}', "'result.count' must be a positive int, got 0"),
        ('{"type": "minecraft:crafting_shaped", "pattern": ["#"], "result": {"item": "minecraft:x"}}',
         "needs 'pattern' \\(list\\) and 'key'"),
    ],
)
def test_malformed_recipe_files_name_the_file_and_field(tmp_path: Path, content: str, message: str):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(RecipeDataError, match=message):
        load_recipe_book(tmp_path)


def test_a_small_recipe_directory_loads(tmp_path: Path):
    (tmp_path / "b.json").write_text(json.dumps({
        "type": "minecraft:crafting_shaped", "pattern": ["aa", "ab"],
        "key": {"a": {"item": "minecraft:a"}, "b": [{"item": "minecraft:c"}, {"item": "minecraft:d"}]},
        "result": {"item": "minecraft:b", "count": 2}}))
    small = load_recipe_book(tmp_path)
    (recipe,) = small.recipes["b"]
    assert recipe.command() == "craft 2 b using 3 a, 1 c or d"
    assert small.raw == {"a", "c", "d"} and small.depth["b"] == 1
    assert plan(small, "b", {"c": 0}, count=3) == ["get 6 a", "get 2 c", "craft 4 b using 6 a, 2 c"]


# -- expert -------------------------------------------------------------------------------------------


def test_expert_solves_every_solvable_goal_of_every_depth(book):
    depths_seen = set()
    for split in ("train", "test"):
        env = make("textcraft", split=split)
        for goal in env.task_ids():
            env.reset(seed=0, options={"task_id": goal})
            terminated = truncated = False
            while not (terminated or truncated):
                _, reward, terminated, truncated, info = env.step(env.expert_action())
            assert info["won"] and reward == 1.0, goal
            depths_seen.add(info["depth"])
    assert depths_seen == {1, 2, 3, 4}


def test_expert_reuses_leftovers_and_replans_from_the_inventory(book):
    assert plan(book, "crafting_table", {}) == [
        "get 1 oak log", "craft 4 oak planks using 1 oak log", "craft 1 crafting table using 4 oak planks"]
    # 4 birch planks already held: no logs needed
    expected = ["craft 1 crafting table using 4 birch planks"]
    assert plan(book, "crafting_table", {"birch_planks": 5}) == expected
    # a ladder needs 7 sticks: 2 applications of the bamboo stick recipe would be wrong, counts are exact
    actions = plan(book, "ladder", {})
    assert actions[-1].startswith("craft 3 ladder using 7 stick")


# -- env contract and splits --------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{}, {"split": "test"}, {"depth": 3}, {"depth": 4, "n_distractors": 0}])
def test_check_env(kwargs):
    report = check_env(make("textcraft", **kwargs), seeds=(0, 1, 7))
    assert report.mean_expert_return == 1.0


def test_registry_builds_it():
    env = make("textcraft", split="test")
    assert isinstance(env.unwrapped, TextCraftEnv) and env.name == "textcraft"


def test_splits_partition_the_solvable_goals(book):
    train, test = TextCraftEnv(split="train").task_ids(), TextCraftEnv(split="test").task_ids()
    assert set(train).isdisjoint(test)
    assert sorted(train + test) == sorted(g for g in book.goals() if g in book.depth)
    assert 0.1 < len(test) / (len(train) + len(test)) < 0.3
    assert all(split_of(g) == "test" for g in test)


def test_depth_filter():
    env = TextCraftEnv(depth=3)
    assert env.task_ids() and all(env.book.depth[g] == 3 for g in env.task_ids())
    _, info = env.reset(seed=0)
    assert info["depth"] == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"split": "dev"}, "split must be one of"), ({"depth": 9}, "no train goals of depth=9"),
     ({"max_steps": 0}, "max_steps must be a positive int, got 0"),
     ({"n_distractors": -1}, "n_distractors must be an int >= 0, got -1")],
)
def test_bad_arguments_name_the_field(kwargs, message):
    with pytest.raises(EnvError, match=message):
        TextCraftEnv(**kwargs)


def test_unknown_task_and_misuse_raise_env_error():
    env = make("textcraft")
    with pytest.raises(EnvError, match="call reset"):
        env.step("inventory")
    with pytest.raises(EnvError, match="task_id 'dirt'"):
        env.reset(options={"task_id": "dirt"})
    env.reset(options={"task_id": "crafting_table"})
    env.step("get 1 oak log")
    env.step("craft 4 oak planks using 1 oak log")
    env.step("craft 1 crafting table using 4 planks")
    with pytest.raises(EnvError, match="episode is over"):
        env.step("inventory")


def test_observation_lists_the_tree_and_distractors_and_the_goal():
    env = TextCraftEnv(n_distractors=5)
    obs, info = env.reset(seed=0, options={"task_id": "crafting_table"})
    commands = obs.split("\n\n")[0].splitlines()[1:]
    assert "craft 1 crafting table using 4 planks" in commands
    assert "craft 4 oak planks using 1 oak logs" in commands
    assert len(commands) == len(set(commands)) == 8 + 1 + 5  # 8 planks recipes, the table, distractors
    assert "planks: oak planks, spruce planks" in obs and obs.endswith("Goal: craft crafting table.")
    assert set(commands) <= set(info["admissible_actions"])
    assert {"get 1 oak log", "inventory"} <= set(info["admissible_actions"])
    other, _ = env.reset(seed=1, options={"task_id": "crafting_table"})
    assert other != obs  # the seed orders the listing and picks the distractors


def test_observation_does_not_depend_on_the_hash_seed():
    code = ("from agentkit.envs.minecraft.textcraft import TextCraftEnv\n"
            "print(TextCraftEnv(split='test').reset(seed=5)[0])")
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout
        for h in (1, 2)
    }
    assert len(outputs) == 1


# -- actions ------------------------------------------------------------------------------------------


@pytest.fixture
def table_env() -> TextEnv:
    env = make("textcraft", max_steps=12)
    env.reset(seed=0, options={"task_id": "crafting_table"})
    return env


def test_free_text_actions_are_parsed_tolerantly(table_env):
    assert table_env.step("  GET 2 Oak_Log. ")[0] == "Got 2 oak log"
    assert table_env.step("get minecraft:oak_log")[0] == "Got 1 oak log"
    assert table_env.step("craft minecraft:oak_planks using 1 oak logs")[0] == "Crafted 4 oak planks"
    assert table_env.step("craft 8 oak planks using 2 oak log")[0] == "Crafted 8 oak planks"  # 2 at once
    assert table_env.step("inventory")[0] == "Inventory: [oak planks] (12)"
    action = "> craft 1 crafting table using 2 oak planks and 2 planks"
    obs, reward, terminated, _, info = table_env.step(action)
    assert (reward, terminated, info["won"]) == (1.0, True, True)
    assert obs.endswith("Goal reached: you crafted crafting table.")


@pytest.mark.parametrize(
    ("action", "observation"),
    [
        ("dance", "Unknown action 'dance'"),
        ("get 1 unobtainium", "Unknown item 'unobtainium'"),
        ("get 1 stick", "Could not find stick; it has to be crafted"),
        ("get 1 oak logs", "oak logs is a group of items; get one of them: oak log, stripped oak log."),
        ("get 1 planks", "planks is a group of crafted items"),
        ("get 0 oak log", "must be at least 1"),
        ("craft 1 crafting table", "Write crafting as"),
        ("craft 1 oak log using 1 stick", "There is no crafting recipe for oak log"),
        ("craft 1 crafting table using 3 planks", "Could not craft crafting table from those ingredients"),
        ("craft 2 crafting table using 4 planks", "Those ingredients make 1 crafting table, not 2"),
        ("craft 1 crafting table using 4 planks", "not enough planks (need 4, have 0)"),
        ("craft 4 stick using 2 oak planks, 1 diamond", "Could not craft stick"),
    ],
)
def test_bad_actions_get_a_helpful_observation(table_env, action, observation):
    obs, reward, terminated, truncated, info = table_env.step(action)
    assert observation in obs
    assert (reward, terminated, truncated, info["won"]) == (0.0, False, False, False)


def test_and_separates_ingredients_unless_it_is_part_of_a_name():
    env = make("textcraft", split=split_of("flint_and_steel"))
    env.reset(options={"task_id": "flint_and_steel"})
    assert "Unknown item 'iron ingot and 1 flint'" in env.step("get 1 iron ingot and 1 flint")[0]
    env.step("get 1 iron ingot")
    env.step("get 1 flint")
    obs, reward, *_ = env.step("craft 1 flint and steel using 1 iron ingot and 1 flint")
    assert obs.startswith("Crafted 1 flint and steel") and reward == 1.0


def test_a_failed_craft_takes_nothing(table_env):
    table_env.step("get 1 oak log")
    table_env.step("craft 4 oak planks using 1 oak log")
    table_env.step("craft 1 crafting table using 4 oak planks, 1 stick")
    assert table_env.step("inventory")[0] == "Inventory: [oak planks] (4)"


def test_truncation_at_max_steps(table_env):
    for _ in range(11):
        assert table_env.step("inventory")[3] is False
    _, reward, terminated, truncated, info = table_env.step("inventory")
    assert (reward, terminated, truncated, info["won"]) == (0.0, False, True, False)


def test_admissible_gets_carry_the_amounts_the_listed_recipes_take():
    env = TextCraftEnv(split="train", depth=1)
    _, info = env.reset(seed=0, options={"task_id": "acacia_wood"})
    assert "craft 3 acacia wood using 4 acacia log" in info["admissible_actions"]
    assert "get 4 acacia log" in info["admissible_actions"]  # the expert's own first command
    assert env.expert_action() == "get 4 acacia log"
