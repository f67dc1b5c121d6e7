"""TextWorld env bench: expert and random success per game set, and wrapper speed against raw TextWorld.

    python bench/textworld_env.py [--games 50] [--cache-dir DIR] [--workers 2]

Prints one markdown table. Per game set (train split): seconds per generated game (when this run had to
generate them), the expert's success over all games, the expert's success when it takes over after 5
random commands, the random policy's success (uniform
among admissible commands, 50-step limit: the floor every learned agent must beat), and steps per second with
admissible commands on, measured side by side on the same command sequences: TextWorld itself
(`textworld.start` with the same infos requested) and `TextWorldEnv`.
"""

from __future__ import annotations

import argparse
import random
import time

from agentkit.benchmarks import result_line
from agentkit.collect import play_episode
from agentkit.envs import EnvError, TextEnv, make
from agentkit.envs.textworld import GAME_SETS
from agentkit.envs.textworld.env import start_game
from agentkit.envs.textworld.games import DEFAULT_CACHE_DIR
from agentkit.policies import ExpertPolicy, RandomPolicy

WRAPPER_GOAL = 0.9  # TextWorldEnv steps/s over raw TextWorld's: the wrapper should cost at most 10%


def success_rate(env: TextEnv, policy) -> float:
    episodes = [play_episode(env, policy, task_id, seed=i) for i, task_id in enumerate(env.task_ids())]
    errors = [e.error for e in episodes if e.error]
    if errors:
        print(f"<!-- {len(errors)} errors, first: {errors[0]} -->")
    return sum(e.success for e in episodes) / len(episodes)


def takeover_success(env: TextEnv, random_steps: int = 5, seed: int = 0) -> float:
    """The expert taking over after `random_steps` uniform random commands (DAgger / Agent-R style).

    Random commands can lose a game outright (e.g. eating the quest item): those count as failures.
    """
    rng = random.Random(seed)
    wins = 0
    for task_id in env.task_ids():
        _, info = env.reset(options={"task_id": task_id})
        for step in range(env.max_steps):
            try:
                random_move = step < random_steps
                action = rng.choice(info["admissible_actions"]) if random_move else env.expert_action()
            except EnvError:  # no winning plan left: random play made the game unwinnable
                break
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        wins += info["won"]
    return wins / len(env.task_ids())


def command_sequences(env: TextEnv, steps: int, seed: int) -> dict[str, list[str]]:
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


def raw_seconds(env: TextEnv, task_id: str, commands: list[str]) -> float:
    """TextWorld alone; it loads the game, as the wrapper does when its task changes."""
    started = time.perf_counter()
    game = start_game(env.game(task_id), admissible=True)
    game.reset()
    for command in commands:
        game.step(command)
    game.close()
    return time.perf_counter() - started


def wrapper_seconds(env: TextEnv, task_id: str, commands: list[str]) -> float:
    started = time.perf_counter()
    env.reset(options={"task_id": task_id})
    for command in commands:
        env.step(command)
    return time.perf_counter() - started


def steps_per_second(env: TextEnv, sequences: dict[str, list[str]], repeats: int) -> tuple[float, float]:
    """(raw, wrapper) steps/s; game by game side by side, best of `repeats` per game, so load hits both."""
    raw = dict.fromkeys(sequences, float("inf"))
    wrapped = dict.fromkeys(sequences, float("inf"))
    for repeat in range(repeats):
        for task_id, commands in sequences.items():  # who goes first (warm caches) alternates
            sides = [(raw, raw_seconds), (wrapped, wrapper_seconds)][:: 1 if repeat % 2 == 0 else -1]
            for best, seconds in sides:
                best[task_id] = min(best[task_id], seconds(env, task_id, commands))
    steps = sum(len(commands) for commands in sequences.values())
    return steps / sum(raw.values()), steps / sum(wrapped.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=50)
    parser.add_argument("--speed-games", type=int, default=10, help="games used for the steps/s columns")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per game and side (best kept)")
    args = parser.parse_args()

    rows = []
    for name in GAME_SETS:
        started = time.perf_counter()
        env = make("textworld", game_set=name, split="train", n_games=args.games, cache_dir=args.cache_dir,
                   workers=args.workers, progress=True)
        generation = time.perf_counter() - started
        expert = success_rate(env, ExpertPolicy())
        floor = success_rate(env, RandomPolicy(seed=0))
        takeover = takeover_success(env)
        speed_env = make("textworld", game_set=name, split="train", n_games=args.speed_games,
                         cache_dir=args.cache_dir)
        sequences = command_sequences(speed_env, steps=50, seed=0)
        raw, wrapped = steps_per_second(speed_env, sequences, args.repeats)
        generated = f"{generation / args.games:.2f}" if generation > 0.05 * args.games else "cached"
        rows.append((name, generated, expert, takeover, floor, raw, wrapped))
        env.close()
        speed_env.close()

    print(f"\nTextWorld game sets, train split, {args.games} games each; steps/s over {args.speed_games} "
          f"games x up to 50 random admissible commands, best of {args.repeats} per game, admissible "
          "commands on.\n")
    print("| game set | generation s/game | expert success | expert after 5 random steps | random success "
          "| raw TextWorld steps/s | TextWorldEnv steps/s | wrapper/raw |")
    print("|---|---|---|---|---|---|---|---|")
    for name, generated, expert, takeover, floor, raw, wrapped in rows:
        print(f"| {name} | {generated} | {expert:.0%} | {takeover:.0%} | {floor:.0%} | {raw:.0f} | "
              f"{wrapped:.0f} | {wrapped / raw:.2f} |")
    print()
    for name, *_, raw, wrapped in rows:
        print(result_line("SPEED", measure=f"TextWorldEnv / raw TextWorld steps/s ({name})",
                          ratio=round(wrapped / raw, 3), goal=WRAPPER_GOAL))


if __name__ == "__main__":
    main()
