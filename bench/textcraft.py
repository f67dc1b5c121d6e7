"""TextCraft bench: the expert over every goal of every depth, a random policy beside it, env speed.

    python bench/textcraft.py [--random-seeds 3]

Prints a markdown table per crafting depth: goals (all craftable items), solvable (reachable from raw
items), expert solved, random-policy success (uniform over the admissible actions, `max_steps` 40), and
steps/s under the random policy (env.step) and under the expert (expert_action + env.step).
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict

from agentkit.envs import TextEnv, make
from agentkit.envs.minecraft.recipes import load_recipe_book


def run_episode(
    env: TextEnv, goal: str, seed: int, policy: random.Random | None
) -> tuple[bool, int, float]:
    """One episode; the expert acts when `policy` is None. Returns (won, steps, seconds choosing + stepping)."""
    _, info = env.reset(seed=seed, options={"task_id": goal})
    terminated = truncated = False
    steps, seconds = 0, 0.0
    while not (terminated or truncated):
        start = time.perf_counter()
        action = env.expert_action() if policy is None else policy.choice(info["admissible_actions"])
        _, _, terminated, truncated, info = env.step(action)
        seconds += time.perf_counter() - start
        steps += 1
    return info["won"], steps, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-seeds", type=int, default=3, help="random-policy episodes per goal")
    args = parser.parse_args()

    book = load_recipe_book()
    rows: dict[object, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for goal in book.goals():
        rows[book.depth.get(goal, "unsolvable")]["goals"] += 1
    for split in ("train", "test"):
        env = make("textcraft", split=split, max_steps=40)
        for goal in env.task_ids():
            row = rows[book.depth[goal]]
            row["solvable"] += 1
            won, steps, seconds = run_episode(env, goal, seed=0, policy=None)
            row["expert_seconds"] += seconds
            row["expert_steps"] += steps
            row["expert_won"] += won
            for seed in range(args.random_seeds):
                won, steps, seconds = run_episode(env, goal, seed, policy=random.Random(seed))
                row["random_won"] += won
                row["random_episodes"] += 1
                row["env_steps"] += steps
                row["env_seconds"] += seconds

    total: dict[str, float] = defaultdict(float)
    for row in rows.values():
        for key, value in row.items():
            total[key] += value
    print("| depth | goals | solvable | expert solved | expert steps (mean) | random-policy success "
          "| env steps/s | expert steps/s |")
    print("|---|---|---|---|---|---|---|---|")
    ordered = sorted(k for k in rows if isinstance(k, int)) + [k for k in rows if not isinstance(k, int)]
    for key, row in [*((k, rows[k]) for k in ordered), ("all", total)]:
        solvable = int(row["solvable"])
        if not solvable:
            print(f"| {key} | {int(row['goals'])} | 0 | - | - | - | - | - |")
            continue
        print(f"| {key} | {int(row['goals'])} | {solvable} | {int(row['expert_won'])}/{solvable} "
              f"({100 * row['expert_won'] / solvable:.0f}%) | {row['expert_steps'] / solvable:.1f} "
              f"| {100 * row['random_won'] / row['random_episodes']:.1f}% "
              f"| {row['env_steps'] / row['env_seconds']:,.0f} "
              f"| {row['expert_steps'] / row['expert_seconds']:,.0f} |")


if __name__ == "__main__":
    main()
