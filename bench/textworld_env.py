"""TextWorld env bench: expert and random success per game set, and wrapper speed against raw TextWorld.

    python bench/textworld_env.py [--games 50] [--cache-dir DIR] [--workers 2]

Prints one markdown table. Per game set (train split): seconds per generated game (when this run had to
generate them), the expert's success over all games, the random policy's success (uniform among
admissible commands, 50-step limit: the floor every learned agent must beat), and steps per second with
admissible commands on, measured side by side on the same command sequences: TextWorld itself
(`textworld.start` with the same infos requested) and `TextWorldEnv`.
"""

from __future__ import annotations

import argparse
import random
import time

from agentkit.envs.textworld import GAME_SETS, TextWorldEnv
from agentkit.envs.textworld.env import start_game
from agentkit.envs.textworld.games import DEFAULT_CACHE_DIR

from agentkit.collect import play_episode
from agentkit.policies import ExpertPolicy, RandomPolicy


def success_rate(env: TextWorldEnv, policy) -> float:
    episodes = [play_episode(env, policy, task_id, seed=i) for i, task_id in enumerate(env.task_ids())]
    errors = [e.error for e in episodes if e.error]
    if errors:
        print(f"<!-- {len(errors)} errors, first: {errors[0]} -->")
    return sum(e.success for e in episodes) / len(episodes)


def command_sequences(env: TextWorldEnv, steps: int, seed: int) -> dict[str, list[str]]:
    """Per game, the random admissible commands of one episode (replayed identically in both loops)."""
    rng = random.Random(seed)
    sequences = {}
    for task_id in env.task_ids():
        _, info = env.reset(options={"task_id": task_id})
        commands: list[str] = []
        done = False
        while not done and len(commands) < steps:
            commands.append(rng.choice(info["admissible_actions"]))
            _, _, terminated, truncated, info = env.step(commands[-1])
            done = terminated or truncated
        sequences[task_id] = commands
    return sequences


def raw_steps_per_second(env: TextWorldEnv, sequences: dict[str, list[str]]) -> float:
    """TextWorld alone; it loads each game as the wrapper does when its task changes."""
    started, steps = time.perf_counter(), 0
    for task_id, commands in sequences.items():
        game = start_game(env.game(task_id), admissible=True)
        game.reset()
        for command in commands:
            game.step(command)
        steps += len(commands)
        game.close()
    return steps / (time.perf_counter() - started)


def wrapper_steps_per_second(env: TextWorldEnv, sequences: dict[str, list[str]]) -> float:
    started, steps = time.perf_counter(), 0
    for task_id, commands in sequences.items():
        env.reset(options={"task_id": task_id})
        for command in commands:
            env.step(command)
        steps += len(commands)
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=50)
    parser.add_argument("--speed-games", type=int, default=10, help="games used for the steps/s columns")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="speed runs per side; the best is kept")
    args = parser.parse_args()

    rows = []
    for name in GAME_SETS:
        started = time.perf_counter()
        env = TextWorldEnv(name, "train", n_games=args.games, cache_dir=args.cache_dir, workers=args.workers,
                           progress=True)
        generation = time.perf_counter() - started
        expert = success_rate(env, ExpertPolicy())
        floor = success_rate(env, RandomPolicy(seed=0))
        speed_env = TextWorldEnv(name, "train", n_games=args.speed_games, cache_dir=args.cache_dir)
        sequences = command_sequences(speed_env, steps=50, seed=0)
        raw, wrapped = 0.0, 0.0
        for _ in range(args.repeats):  # alternate the two sides so machine load hits both alike
            raw = max(raw, raw_steps_per_second(speed_env, sequences))
            wrapped = max(wrapped, wrapper_steps_per_second(speed_env, sequences))
        generated = f"{generation / args.games:.2f}" if generation > 0.05 * args.games else "cached"
        rows.append((name, generated, expert, floor, raw, wrapped))
        env.close()
        speed_env.close()

    print(f"\nTextWorld game sets, train split, {args.games} games each; steps/s over {args.speed_games} games "
          f"x up to 50 random admissible commands, best of {args.repeats}, admissible commands on.\n")
    print("| game set | generation s/game | expert success | random success | raw TextWorld steps/s "
          "| TextWorldEnv steps/s | wrapper/raw |")
    print("|---|---|---|---|---|---|---|")
    for name, generated, expert, floor, raw, wrapped in rows:
        print(f"| {name} | {generated} | {expert:.0%} | {floor:.0%} | {raw:.0f} | {wrapped:.0f} | "
              f"{wrapped / raw:.2f} |")


if __name__ == "__main__":
    main()
