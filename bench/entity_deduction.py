"""Entity deduction: the expert and random-question baselines on the test splits, with the knowledge-base judge.

Prints a markdown table: per list, games won within 20 questions, mean questions per game (a lost game
counts 20) and the mean arena score (1 - 0.02 * max(turns - 5, 0) on a win, else 0).

    python bench/entity_deduction.py [--split test] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from agentkit.envs.entity_deduction import EntityDeductionEnv
from agentkit.envs.entity_deduction.expert import ExpertQuestioner, RandomQuestioner


def play(env: EntityDeductionEnv, questioner: ExpertQuestioner, task_id: str) -> tuple[bool, int, float, int]:
    """One game: (won, questions asked, arena score, unmapped questions)."""
    env.reset(options={"task_id": task_id})
    history: list[tuple[str, str]] = []
    while True:
        question = questioner.next_question(history)
        answer, reward, terminated, truncated, info = env.step(question)
        history.append((question, answer))
        if terminated or truncated:
            return info["won"], info["turn"], reward, info["unmapped_questions"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of each random baseline")
    args = parser.parse_args()
    print("| list | guesser | games | won | mean questions | mean arena score | unmapped | ms/game |")
    print("|---|---|---|---|---|---|---|---|")
    for entity_list in ("things", "celebrities"):
        env = EntityDeductionEnv(entity_list, args.split)
        tasks = env.task_ids()
        guessers = [("expert (information gain)", [ExpertQuestioner(env.kb)])]
        guessers.append(("random attribute questions, tracks candidates",
                         [RandomQuestioner(env.kb, seed) for seed in range(args.seeds)]))
        guessers.append(("random questions and guesses",
                         [RandomQuestioner(env.kb, seed, track_candidates=False) for seed in range(args.seeds)]))
        for label, questioners in guessers:
            start = time.perf_counter()
            games = [play(env, questioner, task) for questioner in questioners for task in tasks]
            elapsed = time.perf_counter() - start
            won = sum(game[0] for game in games)
            print(
                f"| {entity_list} | {label} | {len(games)} | {won} ({100 * won / len(games):.1f}%) "
                f"| {statistics.mean(game[1] for game in games):.2f} "
                f"| {statistics.mean(game[2] for game in games):.3f} "
                f"| {sum(game[3] for game in games)} | {1000 * elapsed / len(games):.1f} |"
            )
        kb = env.kb
        print(f"| {entity_list} | (knowledge base: {len(kb.entities)} entities, {len(kb.attributes)} attributes, "
              f"{len(kb.answerable_attributes())} known for every entity) | | | | | | |")


if __name__ == "__main__":
    main()
