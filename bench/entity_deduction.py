"""Entity deduction: the expert and random-question baselines on the test splits, with the knowledge-base judge.

Prints a markdown table: per list, games won within 20 questions, mean questions per game (a lost game
counts 20) and the mean arena score (1 - 0.02 * max(turns - 5, 0) on a win, else 0).

    python bench/entity_deduction.py [--split test] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from agentkit.envs import TextEnv, make
from agentkit.envs.entity_deduction import KnowledgeBaseJudge
from agentkit.envs.entity_deduction.expert import ExpertQuestioner, RandomQuestioner

# Questions in the style of LLM guessers, written without looking at the grammar's phrasings: the share the
# grammar maps (rather than answering "Maybe" as unmapped) measures how forgiving the offline judge is.
NATURAL_QUESTIONS = {
    "things": [
        "Is it a living thing?", "Is it an animal?", "Is it a mammal?", "Is it a domesticated animal?",
        "Is it commonly found in households?", "Is it used for transportation?", "Is it an electronic device?",
        "Is it something you can hold in your hand?", "Is it used in the kitchen?", "Is it a tool?",
        "Is it made of metal?", "Is it a type of food?", "Is it a fruit?", "Is it a vegetable?", "Is it sweet?",
        "Is it typically used outdoors?", "Is it larger than a car?", "Is it a plant?", "Does it have wheels?",
        "Is it used for entertainment?", "Is it a musical instrument?", "Is it associated with a holiday?",
        "Is it a piece of furniture?", "Is it used for cleaning?", "Is it a natural phenomenon?", "Is it a place?",
        "Is it a building?", "Is it related to technology?", "Is it a bird?", "Does it live in water?",
        "Can it fly?", "Is it a pet?", "Is it a reptile?", "Is it an insect?", "Is it found in the ocean?",
        "Is it a predator?", "Is it found in Africa?", "Is it a wild animal?", "Is it a carnivore?",
        "Is it larger than a human?", "Is it a mythical creature?", "Is it a person?", "Is it a sport?",
        "Is it a game?", "Is it a toy?", "Is it a beverage?", "Is it alcoholic?", "Is it used for cooking?",
        "Is it a container?", "Is it worn on the body?", "Is it a piece of clothing?", "Is it jewelry?",
        "Is it a weapon?", "Is it made of wood?", "Is it made of plastic?", "Is it a dessert?",
        "Is it a type of bird?", "Does it have four legs?", "Is it a dog?", "Is it smaller than a breadbox?",
    ],
    "celebrities": [
        "Is the person alive?", "Is the person male?", "Is the person an actor?", "Is the person American?",
        "Is the person a musician?", "Is the person a singer?", "Is the person a politician?",
        "Is the person an athlete?", "Is the person known for their work in film?", "Was the person born before 1950?",
        "Is the person from Europe?", "Is the person a scientist?", "Is the person a writer?",
        "Has the person won an Oscar?", "Is the person a historical figure?", "Is the person associated with sports?",
        "Is the person associated with the entertainment industry?", "Is the person a former president?",
        "Did the person live in the 20th century?", "Is the person British?",
        "Is the person known for their contributions to science?", "Is the person an artist?",
        "Is the person a painter?", "Is the person a religious figure?", "Is the person a businessperson?",
        "Is the person a tech entrepreneur?", "Has the person won a Grammy?", "Is the person a comedian?",
        "Is the person a woman?", "Is the person from Asia?", "Is the person a footballer?",
        "Is the person a soccer player?", "Is the person a basketball player?", "Was the person a military leader?",
        "Is the person still active in their career?", "Is the person Asian?", "Is the person a TV personality?",
        "Is the person known for philanthropy?", "Is the person a royal?", "Did the person win a Nobel Prize?",
    ],
}


def play(env: TextEnv, questioner: ExpertQuestioner, task_id: str) -> tuple[bool, int, float, int]:
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
        env = make("entity_deduction", entity_list=entity_list, split=args.split)
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
        questions = NATURAL_QUESTIONS[entity_list]
        judge = KnowledgeBaseJudge(kb)
        mapped = sum(judge.judge(kb.entities[0], question).mapped for question in questions)
        print(f"| {entity_list} | (grammar maps {mapped}/{len(questions)} natural-style questions) | | | | | | |")


if __name__ == "__main__":
    main()
