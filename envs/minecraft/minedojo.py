"""MineDojo behind the text interface, for machines where MineDojo is installed.

MineDojo 0.1 needs gym 0.21, JDK 8 and downloads Minecraft at its first reset, so it is never a
dependency: `import minedojo` happens only when `MineDojoEnv` builds its simulator. Observation dicts
(MineDojo's documented spec) are rendered to text by `render_observation`, and text actions are mapped to
the 8-slot `MultiDiscrete` action of MineDojo's `NNActionSpaceWrapper` by `parse_action`; both are pure
Python, so they are tested without the simulator.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agentkit.envs.base import EnvError, TextEnv

N_INV_SLOTS = 36
CAMERA_STEP = 15  # degrees per camera bin; 25 bins span -180..180
CAMERA_NOOP = 12
FUNCTIONAL = {"use": 1, "drop": 2, "attack": 3, "craft": 4, "equip": 5, "place": 6, "destroy": 7}
EQUIPMENT_SLOTS = ("main hand", "feet", "legs", "chest", "head", "off hand")
MOVES = {"forward": (0, 1), "back": (0, 2), "left": (1, 1), "right": (1, 2),
         "jump": (2, 1), "sneak": (2, 2), "sprint": (2, 3)}
LIFE_STATS = (("life", "health", 20), ("food", "food", 20), ("saturation", "saturation", None),
              ("oxygen", "oxygen", 300), ("armor", "armor", None), ("xp", "xp", None))
HELP = ("Actions: move forward|back|left|right, jump, sneak, sprint, look up|down N, turn left|right N "
        "(degrees, steps of 15), attack, use, drop, craft ITEM, equip ITEM, place ITEM, destroy ITEM, noop.")


class ActionParseError(ValueError):
    """A text action that maps to no MineDojo action; the message says what is accepted."""


def _name(value: object) -> str:
    return str(value).replace("_", " ").strip().lower()


def _scalar(value: object) -> float:
    return float(np.asarray(value, dtype=float).reshape(-1)[0])


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _items(slots: Mapping[str, Any]) -> list[tuple[int, str, int]]:
    """(slot, name, quantity) of the occupied slots of an inventory or equipment dict."""
    names = [_name(n) for n in np.asarray(slots["name"]).reshape(-1)]
    quantities = np.asarray(slots["quantity"]).reshape(-1)
    return [(i, n, int(q)) for i, (n, q) in enumerate(zip(names, quantities, strict=True)) if n not in ("air", "")]


def _facing(yaw: float) -> tuple[int, int]:
    """Minecraft yaw to the (dx, dz) grid step ahead: 0 faces south (+z), 90 west (-x)."""
    radians = math.radians(yaw)
    return round(-math.sin(radians)), round(math.cos(radians))


def render_voxels(voxels: Mapping[str, Any], yaw: float, origin: Sequence[int] = (-1, -1, -1)) -> list[str]:
    """Nearby blocks from the (x, y, z) voxel grid whose min corner sits at `origin` relative to the feet."""
    names = np.vectorize(_name)(np.asarray(voxels["block_name"]))
    counts = Counter(n for n in names.reshape(-1) if n not in ("air", "cave air", "void air"))
    if not counts:
        return ["Nearby blocks: only air."]
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    lines = ["Nearby blocks: " + ", ".join(f"{name} x{n}" for name, n in ranked) + "."]

    def block_at(dx: int, dy: int, dz: int) -> str | None:
        index = (dx - origin[0], dy - origin[1], dz - origin[2])
        inside = all(0 <= k < size for k, size in zip(index, names.shape, strict=True))
        return str(names[index]) if inside else None

    dx, dz = _facing(yaw)
    around = [("below you", block_at(0, -1, 0)), ("ahead at your feet", block_at(dx, 0, dz)),
              ("ahead at eye level", block_at(dx, 1, dz))]
    lines += [f"{where.capitalize()}: {block}." for where, block in around if block is not None]
    return lines


def render_observation(obs: Mapping[str, Any], voxel_origin: Sequence[int] = (-1, -1, -1)) -> str:
    """MineDojo's observation dict as text: position, life stats, equipment, inventory, tools, blocks.

    Keys absent from `obs` (MineDojo lets a task drop voxels, for instance) are left out of the text.
    """
    lines: list[str] = []
    location = obs.get("location_stats")
    yaw = 0.0
    if location is not None:
        x, y, z = (float(v) for v in np.asarray(location["pos"]).reshape(-1)[:3])
        yaw, pitch = _scalar(location.get("yaw", 0.0)), _scalar(location.get("pitch", 0.0))
        lines.append(f"Position: x={x:.1f}, y={y:.1f}, z={z:.1f}; facing yaw {yaw:.0f}, pitch {pitch:.0f}.")
    life = obs.get("life_stats")
    if life is not None:
        parts = []
        for key, label, cap in LIFE_STATS:
            if key in life:
                value = _number(_scalar(life[key]))
                parts.append(f"{label} {value}/{cap}" if cap else f"{label} {value}")
        lines.append("Life: " + ", ".join(parts) + ".")
    if "equipment" in obs:
        held = [f"{EQUIPMENT_SLOTS[i]}: {n}" + (f" x{q}" if q > 1 else "") for i, n, q in _items(obs["equipment"])
                if i < len(EQUIPMENT_SLOTS)]
        lines.append("Equipment: " + ("; ".join(held) if held else "nothing") + ".")
    if "inventory" in obs:
        slots = [f"{n} x{q}" for _, n, q in _items(obs["inventory"])]
        lines.append("Inventory: " + (", ".join(slots) if slots else "empty") + ".")
    tools = obs.get("nearby_tools")
    if tools is not None:
        near = [name for key, name in (("table", "crafting table"), ("furnace", "furnace")) if bool(tools.get(key))]
        lines.append("Nearby tools: " + (", ".join(near) if near else "none") + ".")
    if "voxels" in obs:
        lines += render_voxels(obs["voxels"], yaw, voxel_origin)
    return "\n".join(lines)


def _camera_bin(degrees: int, sign: int) -> int:
    steps = round(degrees / CAMERA_STEP)
    if not 0 < steps <= CAMERA_NOOP:
        raise ActionParseError(f"camera turns must be 15 to 180 degrees, got {degrees}")
    return CAMERA_NOOP + sign * steps


def _slot_of(item: str, inventory_names: Sequence[str]) -> int:
    names = [_name(n) for n in inventory_names]
    if item not in names:
        held = sorted({n for n in names if n not in ("air", "")}) or ["nothing"]
        raise ActionParseError(f"you have no {item}; you hold: {', '.join(held)}")
    return names.index(item)


def parse_action(text: str, inventory_names: Sequence[str], craft_items: Sequence[str]) -> list[int]:
    """A text action to MineDojo's 8-slot action vector.

    Slots: forward/back, left/right, jump/sneak/sprint, camera pitch bin, camera yaw bin, functional
    action, craft argument (index into `craft_items`, MineDojo's `ALL_CRAFT_SMELT_ITEMS`), inventory slot
    (for equip, place, destroy; looked up by item name in `inventory_names`).
    """
    action = [0, 0, 0, CAMERA_NOOP, CAMERA_NOOP, 0, 0, 0]
    words = " ".join(text.strip().lower().rstrip(".").split())
    if words in ("noop", "no op", "wait"):
        return action
    verb, _, rest = words.partition(" ")
    if (verb == "move" and rest in MOVES) or (not rest and verb in MOVES):
        index, value = MOVES[rest or verb]
        action[index] = value
        return action
    camera = re.fullmatch(r"(look|turn) (up|down|left|right)(?: (\d+)(?: degrees?)?)?", words)
    if camera:
        look, direction, degrees = camera.group(1), camera.group(2), int(camera.group(3) or CAMERA_STEP)
        if (look == "look") != (direction in ("up", "down")):
            raise ActionParseError(f"use 'look up/down N' for pitch and 'turn left/right N' for yaw, got {text!r}")
        # Minecraft pitch grows looking down; yaw grows turning right (clockwise seen from above).
        sign = 1 if direction in ("down", "right") else -1
        action[3 if look == "look" else 4] = _camera_bin(degrees, sign)
        return action
    if verb in ("attack", "use", "drop") and not rest:
        action[5] = FUNCTIONAL[verb]
        return action
    if verb == "craft" and rest:
        item = rest.removeprefix("minecraft:").replace(" ", "_")
        options = list(craft_items)
        if item not in options:
            raise ActionParseError(f"{rest!r} is not craftable in MineDojo (see ALL_CRAFT_SMELT_ITEMS)")
        action[5], action[6] = FUNCTIONAL["craft"], options.index(item)
        return action
    if verb in ("equip", "place", "destroy") and rest:
        action[5], action[7] = FUNCTIONAL[verb], _slot_of(_name(rest.removeprefix("minecraft:")), inventory_names)
        return action
    raise ActionParseError(f"Unknown action {text.strip()!r}. {HELP}")


def admissible_actions(obs: Mapping[str, Any], craft_items: Sequence[str]) -> list[str]:
    """The text actions MineDojo's action masks allow (`obs["masks"]`), plus movement and camera."""
    actions = [f"move {m}" for m in ("forward", "back", "left", "right")] + ["jump", "sneak", "sprint"]
    actions += ["look up 15", "look down 15", "turn left 15", "turn right 15", "attack", "use"]
    masks = obs.get("masks")
    if masks is None:
        return actions
    action_type = np.asarray(masks["action_type"]).reshape(-1)
    if action_type[FUNCTIONAL["drop"]]:
        actions.append("drop")
    craftable = np.asarray(masks["craft_smelt"]).reshape(-1)
    if action_type[FUNCTIONAL["craft"]]:
        actions += [f"craft {_name(craft_items[i])}" for i in np.flatnonzero(craftable) if i < len(craft_items)]
    names = [_name(n) for n in np.asarray(obs["inventory"]["name"]).reshape(-1)]
    for verb in ("equip", "place", "destroy"):
        allowed = np.asarray(masks[verb]).reshape(-1)
        actions += list(dict.fromkeys(f"{verb} {names[i]}" for i in np.flatnonzero(allowed)))
    return actions


class MineDojoEnv(TextEnv):
    """A MineDojo task (`minedojo.make(task_id)`) with text observations and actions.

    `simulator` takes an already-made MineDojo env (gym 0.21 API: `reset() -> obs`,
    `step(a) -> (obs, reward, done, info)`); without one, MineDojo is imported and `make` is called.
    MineDojo ships no oracle, so `expert_action` raises.
    """

    name = "minedojo"

    def __init__(self, task_id: str, image_size: tuple[int, int] = (160, 256), max_steps: int = 500,
                 world_seed: int | None = None, voxel_origin: Sequence[int] = (-1, -1, -1),
                 simulator: Any = None, craft_items: Sequence[str] | None = None) -> None:
        if not isinstance(max_steps, int) or max_steps < 1:
            raise EnvError(f"max_steps must be a positive int, got {max_steps!r}")
        self.task_id, self.max_steps, self.voxel_origin = task_id, max_steps, tuple(voxel_origin)
        if simulator is None or craft_items is None:
            try:
                import minedojo  # noqa: PLC0415  (optional, heavy: only where MineDojo is installed)
                from minedojo.sim import ALL_CRAFT_SMELT_ITEMS
            except ImportError as exc:
                raise EnvError(f"env 'minedojo' needs the MineDojo package ({exc}); it runs only where MineDojo "
                               "0.1, gym 0.21 and JDK 8 are installed. Use 'textcraft' otherwise.") from exc
            craft_items = ALL_CRAFT_SMELT_ITEMS if craft_items is None else craft_items
            if simulator is None:
                simulator = minedojo.make(task_id=task_id, image_size=image_size, world_seed=world_seed)
        self._sim, self._craft_items = simulator, list(craft_items)
        self._obs: Mapping[str, Any] | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        task = (options or {}).get("task_id", self.task_id)
        if task != self.task_id:
            raise EnvError(f"this MineDojoEnv runs task {self.task_id!r}; make a new env for {task!r}")
        if seed is not None and hasattr(self._sim, "seed"):
            self._sim.seed(seed)
        self._obs = self._sim.reset()
        prompt = getattr(self._sim, "task_prompt", None) or self.task_id
        return f"Task: {prompt}\n{render_observation(self._obs, self.voxel_origin)}", self._info(False)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        try:
            vector = parse_action(action, np.asarray(self._obs["inventory"]["name"]).reshape(-1), self._craft_items)
        except ActionParseError as exc:
            return str(exc), 0.0, False, False, self._info(False)
        self._obs, reward, done, sim_info = self._sim.step(np.array(vector))
        won = bool(sim_info.get("success", False))
        return render_observation(self._obs, self.voxel_origin), float(reward), bool(done), False, self._info(won)

    def expert_action(self) -> str:
        raise EnvError("MineDojo ships no oracle, so env 'minedojo' has no expert; use 'textcraft' for demonstrations")

    def task_ids(self) -> list[str]:
        return [self.task_id]

    def close(self) -> None:
        if self._sim is not None:
            self._sim.close()
            self._sim = None

    def _info(self, won: bool) -> dict:
        actions = admissible_actions(self._obs, self._craft_items) if self._obs is not None else []
        return {"won": won, "admissible_actions": actions, "task_id": self.task_id}
