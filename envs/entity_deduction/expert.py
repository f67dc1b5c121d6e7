"""The expert guesser: information-gain questions over the knowledge base, a guess once few remain.

It asks only attributes whose value is known for every entity of the list, in their canonical phrasing,
which the judge's grammar maps back to the same attribute; so behaviour cloning on expert games teaches
a model to ask answerable questions. The candidates are the whole list (all splits), not the test split:
the expert does not know which split it is playing. It re-reads the game so far at every call, so it can
take over a game that another player started.
"""

from __future__ import annotations

import random

import numpy as np

from agentkit.envs.entity_deduction.judges import NO, YES, KnowledgeBaseJudge
from agentkit.envs.entity_deduction.kb import Entity, KnowledgeBase

# With two candidates left, guessing one costs 1.5 turns on average, asking first costs 2.
GUESS_AT = 2


def guess_question(entity: Entity) -> str:
    if entity.adjective:  # "Is it an orange?", not "Is it orange?" (a colour question)
        return f"Is it {'an' if entity.name[0].lower() in 'aeiou' else 'a'} {entity.name.lower()}?"
    return f"Is it {entity.name}?"


class ExpertQuestioner:
    def __init__(self, kb: KnowledgeBase, judge: KnowledgeBaseJudge | None = None) -> None:
        self.kb = kb
        self.judge = judge or KnowledgeBaseJudge(kb)
        self.attributes = kb.answerable_attributes()
        self.questions = [kb.attributes[name].question for name in self.attributes]
        # values[i, j]: the answer for entity i to attribute j (every value is known, see above)
        self.values = np.array(
            [[entity.facts[name] for name in self.attributes] for entity in kb.entities], dtype=bool
        )
        self._answers: dict[str, np.ndarray] = {}
        self._pool = set(self.questions) | {guess_question(entity) for entity in kb.entities}

    def answers(self, question: str) -> np.ndarray:
        """The judge's answer to `question` for every entity (cached for the expert's own fixed pool)."""
        if question in self._answers:
            return self._answers[question]
        answers = np.array([self.judge.judge(entity, question).answer for entity in self.kb.entities])
        if question in self._pool:
            self._answers[question] = answers
        return answers

    def candidates(self, history: list[tuple[str, str]]) -> np.ndarray:
        """Mask of the entities consistent with every Yes/No answer so far ("Maybe" tells nothing)."""
        alive = np.ones(len(self.kb.entities), dtype=bool)
        for question, answer in history:
            if answer in (YES, NO):
                alive &= self.answers(question) == answer
        return alive

    def next_question(self, history: list[tuple[str, str]]) -> str:
        return self.decide(history)[0]

    def decide(self, history: list[tuple[str, str]]) -> tuple[str, str]:
        """The next question and the reasoning behind it (for thought cloning)."""
        alive = self.candidates(history)
        asked = {question for question, _ in history}
        indices = np.flatnonzero(alive)
        if len(indices) == 0:  # the answers contradict the knowledge base (another judge): start over
            indices = np.array([i for i, e in enumerate(self.kb.entities) if guess_question(e) not in asked])
        names = [self.kb.entities[i].name for i in indices]
        if len(indices) > GUESS_AT:
            yes = self.values[indices].sum(axis=0)
            split = np.minimum(yes, len(indices) - yes)
            best = int(np.argmax(split))
            if split[best] > 0 and self.questions[best] not in asked:
                examples = ", ".join(sorted(names)[:3])  # depends on the answers only, never on the target
                return self.questions[best], (
                    f"{len(indices)} candidates fit the answers so far (such as {examples}). "
                    f"This question splits them {int(yes[best])} yes / {len(indices) - int(yes[best])} no."
                )
        for index, name in zip(indices, names, strict=True):
            question = guess_question(self.kb.entities[index])
            if question not in asked:
                fits = " and ".join(names) if len(names) <= GUESS_AT else f"{len(names)} candidates"
                return question, f"Only {fits} fit the answers so far; I guess {name}."
        return guess_question(self.kb.entities[indices[0]]), f"Nothing else fits; I guess {names[0]} again."


class RandomQuestioner(ExpertQuestioner):
    """The lower baseline: questions drawn at random from the expert's pool instead of the best split.

    With `track_candidates` it still filters candidates by the answers and guesses once `GUESS_AT` remain (so
    the gap to the expert is what choosing the question is worth); without it, it draws uniformly from the
    pool of attribute questions and guesses of every entity, and wins only by luck.
    """

    def __init__(self, kb: KnowledgeBase, seed: int = 0, track_candidates: bool = True) -> None:
        super().__init__(kb)
        self.rng = random.Random(seed)
        self.track_candidates = track_candidates

    def next_question(self, history: list[tuple[str, str]]) -> str:
        asked = {question for question, _ in history}
        if not self.track_candidates:
            pool = [q for q in [*self.questions, *map(guess_question, self.kb.entities)] if q not in asked]
            return self.rng.choice(pool)
        indices = np.flatnonzero(self.candidates(history))
        if len(indices) > GUESS_AT:
            yes = self.values[indices].sum(axis=0)
            useful = [q for q, n in zip(self.questions, yes, strict=True) if 0 < n < len(indices) and q not in asked]
            if useful:
                return self.rng.choice(useful)
        for index in indices:
            if (question := guess_question(self.kb.entities[index])) not in asked:
                return question
        return self.rng.choice([q for q in self.questions if q not in asked])
