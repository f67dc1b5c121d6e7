"""Plancraft bench: plancraft's own planner as the expert over a whole split, a random mover beside it.

    python bench/plancraft_expert.py [--split val] [--random-steps 10]

Needs the `minecraft` extra. Prints a markdown table per complexity split: examples, expert solved,
mean expert steps, steps/s under the expert (expert_action + env.step) and under a random policy
(`--random-steps` random moves of 1 item between occupied and random slots, env.step only).
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections import defaultdict

from agentkit.envs import TextEnv, make
from agentkit.envs.minecraft.plancraft import load_examples

SLOTS = [f"[{row}{col}]" for row in "ABC" for col in "123"] + [f"[I{i}]" for i in range(1, 37)]


def expert_episode(env: TextEnv, task_id: str) -> tuple[bool, int, float]:
    env.reset(options={"task_id": task_id})
    terminated = truncated = False
    steps, seconds, info = 0, 0.0, {"won": False}
    while not (terminated or truncated):
        start = time.perf_counter()
        _, _, terminated, truncated, info = env.step(env.expert_action())
        seconds += time.perf_counter() - start
        steps += 1
    return info["won"], steps, seconds


def random_steps(env: TextEnv, task_id: str, n: int, rng: random.Random) -> tuple[int, float]:
    obs, _ = env.reset(options={"task_id": task_id})
    steps, seconds = 0, 0.0
    for _ in range(n):
        occupied = re.findall(r"(\[(?:[ABC][123]|I\d+)\]) quantity", obs.split("inventory:")[-1]) or SLOTS
        action = f"move: from {rng.choice(occupied)} to {rng.choice(SLOTS)} with quantity 1"
        start = time.perf_counter()
        obs, _, terminated, truncated, _ = env.step(action)
        seconds += time.perf_counter() - start
        steps += 1
        if terminated or truncated:
            break
    return steps, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="val")
    parser.add_argument("--random-steps", type=int, default=10)
    args = parser.parse_args()

    env = make("plancraft", split=args.split)
    rng = random.Random(0)
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for example in load_examples(args.split):
        for key in (example.complexity_split, "all"):
            rows[key]["examples"] += 1
        won, steps, seconds = expert_episode(env, example.id)
        n_random, random_seconds = random_steps(env, example.id, args.random_steps, rng)
        for key in (example.complexity_split, "all"):
            row = rows[key]
            row["won"] += won
            row["expert_steps"] += steps
            row["expert_seconds"] += seconds
            row["random_steps"] += n_random
            row["random_seconds"] += random_seconds
    print(f"| {args.split} split | examples | expert solved | expert steps (mean) | expert steps/s "
          "| env steps/s (random moves) |")
    print("|---|---|---|---|---|---|")
    for key in ("easy", "medium", "hard", "impossible", "all"):
        row = rows.get(key)
        if not row:
            continue
        n = int(row["examples"])
        print(f"| {key} | {n} | {int(row['won'])}/{n} ({100 * row['won'] / n:.1f}%) "
              f"| {row['expert_steps'] / n:.1f} | {row['expert_steps'] / row['expert_seconds']:,.0f} "
              f"| {row['random_steps'] / row['random_seconds']:,.0f} |")


if __name__ == "__main__":
    main()
