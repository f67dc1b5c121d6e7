"""The MineDojo adapter's rendering and action parsing, on observation dicts built to MineDojo's documented spec.

`fake_minedojo_obs` and `FakeMineDojoSimulator` are fakes named as such: MineDojo (gym 0.21, JDK 8, a
Minecraft download at first reset) cannot run here. The real-simulator test skips where it is absent.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from agentkit.envs import EnvError, make
from agentkit.envs.minecraft.minedojo import (
    CAMERA_NOOP,
    FUNCTIONAL,
    ActionParseError,
    admissible_actions,
    parse_action,
    render_observation,
)

# A slice of MineDojo's ALL_CRAFT_SMELT_ITEMS: only the index of a name matters to the parser.
FAKE_CRAFT_ITEMS = ["stick", "planks", "crafting_table", "wooden_pickaxe", "torch"]


def fake_minedojo_obs(inventory: dict[str, int] | None = None, yaw: float = 0.0) -> dict:
    """A FAKE observation dict with MineDojo's documented keys, shapes and dtypes (no simulator)."""
    names = np.array(["air"] * 36, dtype=object)
    quantities = np.zeros(36, dtype=np.float32)
    held = {"oak log": 3, "crafting table": 1} if inventory is None else inventory
    for slot, (name, count) in enumerate(held.items()):
        names[slot], quantities[slot] = name, count
    equipment_names = np.array(["diamond sword", "air", "air", "iron chestplate", "air", "shield"], dtype=object)
    blocks = np.full((3, 3, 3), "air", dtype=object)  # (x, y, z), min corner at (-1, -1, -1) from the feet
    blocks[:, 0, :] = "grass block"  # the layer under the feet
    blocks[1, 1, 2] = "log"  # dx=0, feet level, dz=+1: ahead when facing south (yaw 0)
    blocks[1, 2, 2] = "leaves"
    return {
        "rgb": np.zeros((3, 16, 16), dtype=np.uint8),
        "inventory": {"name": names, "quantity": quantities},
        "equipment": {"name": equipment_names, "quantity": np.array([1, 0, 0, 1, 0, 1], dtype=np.float32)},
        "life_stats": {
            "life": np.array([18.0], dtype=np.float32), "food": np.array([20.0], dtype=np.float32),
            "saturation": np.array([5.0], dtype=np.float32), "oxygen": np.array([300.0], dtype=np.float32),
            "armor": np.array([6.0], dtype=np.float32), "xp": np.array([0.0], dtype=np.float32),
            "is_sleeping": 0,
        },
        "location_stats": {
            "pos": np.array([10.4, 64.0, -3.25], dtype=np.float32),
            "yaw": np.array([yaw], dtype=np.float32), "pitch": np.array([0.0], dtype=np.float32),
            "biome_id": 1,
        },
        "nearby_tools": {"table": True, "furnace": False},
        "voxels": {"block_name": blocks},
        "masks": {
            "action_type": np.array([True, True, False, True, True, True, True, True]),
            "craft_smelt": np.array([True, True, False, False, False]),
            "equip": names != "air", "place": names == "crafting table", "destroy": names != "air",
        },
    }


class FakeMineDojoSimulator:
    """A FAKE stand-in with MineDojo's gym 0.21 API; it records actions and wins after `craft stick`."""

    task_prompt = "craft a stick"

    def __init__(self) -> None:
        self.actions: list[np.ndarray] = []
        self.closed = 0

    def reset(self) -> dict:
        return fake_minedojo_obs()

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, dict]:
        self.actions.append(action)
        won = action[5] == FUNCTIONAL["craft"] and FAKE_CRAFT_ITEMS[action[6]] == "stick"
        return fake_minedojo_obs({"oak log": 3, "stick": 4} if won else None), float(won), bool(won), {"success": won}

    def close(self) -> None:
        self.closed += 1


def test_render_observation_covers_every_part():
    text = render_observation(fake_minedojo_obs())
    assert "Position: x=10.4, y=64.0, z=-3.2; facing yaw 0, pitch 0." in text
    assert "Life: health 18/20, food 20/20, saturation 5, oxygen 300/300, armor 6, xp 0." in text
    assert "Equipment: main hand: diamond sword; chest: iron chestplate; off hand: shield." in text
    assert "Inventory: oak log x3, crafting table x1." in text
    assert "Nearby tools: crafting table." in text
    assert "Nearby blocks: grass block x9, leaves x1, log x1." in text
    assert "Below you: grass block." in text
    assert "Ahead at your feet: log." in text and "Ahead at eye level: leaves." in text


def test_render_uses_the_yaw_for_what_is_ahead():
    facing_north = render_observation(fake_minedojo_obs(yaw=180.0))  # ahead is dz=-1: air
    assert "Ahead at your feet: air." in facing_north


def test_render_skips_missing_parts_and_empty_inventory():
    obs = fake_minedojo_obs(inventory={})
    del obs["voxels"], obs["equipment"]
    text = render_observation(obs)
    assert "Inventory: empty." in text
    assert "Nearby blocks" not in text and "Equipment" not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("move forward", [1, 0, 0, CAMERA_NOOP, CAMERA_NOOP, 0, 0, 0]),
        ("Back", [2, 0, 0, CAMERA_NOOP, CAMERA_NOOP, 0, 0, 0]),
        ("move right", [0, 2, 0, CAMERA_NOOP, CAMERA_NOOP, 0, 0, 0]),
        ("sprint", [0, 0, 3, CAMERA_NOOP, CAMERA_NOOP, 0, 0, 0]),
        ("look down 30", [0, 0, 0, 14, CAMERA_NOOP, 0, 0, 0]),
        ("look up", [0, 0, 0, 11, CAMERA_NOOP, 0, 0, 0]),
        ("turn left 90 degrees", [0, 0, 0, CAMERA_NOOP, 6, 0, 0, 0]),
        ("turn right 180", [0, 0, 0, CAMERA_NOOP, 24, 0, 0, 0]),
        ("attack", [0, 0, 0, CAMERA_NOOP, CAMERA_NOOP, 3, 0, 0]),
        ("use.", [0, 0, 0, CAMERA_NOOP, CAMERA_NOOP, 1, 0, 0]),
        ("craft crafting table", [0, 0, 0, CAMERA_NOOP, CAMERA_NOOP, 4, 2, 0]),
        ("craft minecraft:wooden_pickaxe", [0, 0, 0, CAMERA_NOOP, CAMERA_NOOP, 4, 3, 0]),
        ("equip oak log", [0, 0, 0, CAMERA_NOOP, CAMERA_NOOP, 5, 0, 0]),
        ("place crafting_table", [0, 0, 0, CAMERA_NOOP, CAMERA_NOOP, 6, 0, 1]),
        ("destroy crafting table", [0, 0, 0, CAMERA_NOOP, CAMERA_NOOP, 7, 0, 1]),
        ("noop", [0, 0, 0, CAMERA_NOOP, CAMERA_NOOP, 0, 0, 0]),
    ],
)
def test_parse_action_maps_to_minedojo_vectors(text, expected):
    names = fake_minedojo_obs()["inventory"]["name"]
    assert parse_action(text, names, FAKE_CRAFT_ITEMS) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dance", "Unknown action 'dance'. Actions: move forward"),
        ("craft diamond", "'diamond' is not craftable"),
        ("equip diamond pickaxe", "you have no diamond pickaxe; you hold: crafting table, oak log"),
        ("look left 15", "use 'look up/down N' for pitch"),
        ("turn right 200", "must be 15 to 180 degrees, got 200"),
    ],
)
def test_parse_action_errors_say_what_is_accepted(text, message):
    with pytest.raises(ActionParseError, match=message):
        parse_action(text, fake_minedojo_obs()["inventory"]["name"], FAKE_CRAFT_ITEMS)


def test_admissible_actions_follow_minedojo_masks():
    actions = admissible_actions(fake_minedojo_obs(), FAKE_CRAFT_ITEMS)
    assert {"move forward", "attack", "craft stick", "craft planks", "place crafting table"} <= set(actions)
    assert "drop" not in actions and "craft crafting table" not in actions and "place oak log" not in actions
    names = fake_minedojo_obs()["inventory"]["name"]
    for action in actions:  # every admissible action parses
        parse_action(action, names, FAKE_CRAFT_ITEMS)


def test_env_loop_over_the_fake_simulator():
    sim = FakeMineDojoSimulator()
    env = make("minedojo", task_id="fake_craft_stick", simulator=sim, craft_items=FAKE_CRAFT_ITEMS, max_steps=5)
    obs, info = env.reset(seed=0)
    assert obs.startswith("Task: craft a stick\nPosition:") and info["won"] is False
    obs, reward, terminated, truncated, info = env.step("jump dance")
    assert "Unknown action" in obs and not sim.actions  # a bad action never reaches the simulator
    obs, reward, terminated, truncated, info = env.step("craft stick")
    assert (reward, terminated, truncated, info["won"]) == (1.0, True, False, True)
    assert "stick x4" in obs and list(sim.actions[0]) == [0, 0, 0, 12, 12, 4, 0, 0]
    with pytest.raises(EnvError, match="episode is over"):
        env.step("attack")
    with pytest.raises(EnvError, match="has no expert"):
        env.expert_action()
    env.close()
    env.close()
    assert sim.closed == 1


def test_env_truncates_at_max_steps():
    env = make("minedojo", task_id="fake", simulator=FakeMineDojoSimulator(), craft_items=FAKE_CRAFT_ITEMS,
               max_steps=2)
    env.reset()
    assert env.step("attack")[3] is False
    assert env.step("attack")[2:4] == (False, True)


@pytest.mark.skipif(importlib.util.find_spec("minedojo") is not None, reason="MineDojo is installed here")
def test_without_minedojo_the_error_says_where_it_runs():
    with pytest.raises(EnvError, match="needs the MineDojo package.*Use 'textcraft' otherwise"):
        make("minedojo", task_id="harvest_milk")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("minedojo") is None,
                    reason="MineDojo is not installed (needs gym 0.21, JDK 8 and a Minecraft download)")
def test_real_minedojo_simulator():
    env = make("minedojo", task_id="harvest_milk", image_size=(64, 64))
    try:
        obs, info = env.reset()
        assert "Inventory:" in obs and "Position:" in obs and info["admissible_actions"]
        obs, reward, terminated, truncated, info = env.step("move forward")
        assert isinstance(obs, str) and isinstance(reward, float)
    finally:
        env.close()
