"""`EntityDeductionEnv`: the Entity-Deduction Arena's game of 20 questions (Zhang et al. 2023).

The agent (guesser) asks yes/no questions to find a hidden entity; the judge answers "Yes", "No" or "Maybe",
and "Bingo!" when a question names the entity. Success within `max_turns` scores
1 - 0.02 * max(turns - 5, 0), as in the paper; that score is the episode's only reward.
"""

from __future__ import annotations

import random
from typing import Any

from agentkit.envs.base import EnvError, TextEnv
from agentkit.envs.entity_deduction.expert import ExpertQuestioner
from agentkit.envs.entity_deduction.grammar import last_question
from agentkit.envs.entity_deduction.judges import BINGO, Judge, KnowledgeBaseJudge, LLMJudge
from agentkit.envs.entity_deduction.kb import Entity, load_kb
from agentkit.envs.entity_deduction.lists import check_list_and_split

KINDS = {"things": "thing", "celebrities": "celebrity"}
RULES = (
    "Let's play 20 questions. I am thinking of a {kind}. Find it by asking yes/no questions, one per turn; "
    "I answer Yes, No or Maybe. To win, ask a question that names it (for example \"Is it {example}?\"), "
    "and I say Bingo! You have {turns} questions; the sooner you find it, the higher your score."
)
EXAMPLES = {"things": "a bicycle", "celebrities": "Marie Curie"}


def arena_score(turns: int) -> float:
    """The arena's score of a game won on question `turns`: 1 - 0.02 * max(turns - 5, 0)."""
    return 1.0 - 0.02 * max(turns - 5, 0)


class EntityDeductionEnv(TextEnv):
    """20 questions over the arena's things or celebrities lists.

    `judge` is "kb" (offline knowledge-base judge, the default), "llm" (an OpenAI-compatible endpoint; pass
    `judge_options={"base_url": ..., "model": ...}`) or any object with the `Judge` interface.
    """

    name = "entity_deduction"

    def __init__(
        self,
        entity_list: str = "things",
        split: str = "train",
        judge: str | Judge = "kb",
        max_turns: int = 20,
        judge_options: dict[str, Any] | None = None,
    ) -> None:
        check_list_and_split(entity_list, split)
        if not isinstance(max_turns, int) or max_turns < 1:
            raise EnvError(f"max_turns={max_turns!r} must be a positive int")
        self.entity_list, self.split, self.max_steps = entity_list, split, max_turns
        self.kb = load_kb(entity_list)
        self._tasks = self.kb.split(split)
        self.judge = self._make_judge(judge, judge_options or {})
        self._expert = ExpertQuestioner(self.kb)
        self._rng = random.Random()
        self._entity: Entity | None = None
        self._history: list[tuple[str, str]] = []
        self._unmapped = 0

    def _make_judge(self, judge: str | Judge, options: dict[str, Any]) -> Judge:
        if judge == "kb":
            return KnowledgeBaseJudge(self.kb)
        if judge == "llm":
            missing = [key for key in ("base_url", "model") if key not in options]
            if missing:
                raise EnvError(f"judge='llm' needs judge_options with {missing}")
            return LLMJudge(entity_kind=KINDS[self.entity_list], **options)
        if isinstance(judge, str) or not callable(getattr(judge, "judge", None)):
            raise EnvError(f"judge={judge!r} must be 'kb', 'llm' or an object with a judge(entity, question) method")
        return judge

    def task_ids(self) -> list[str]:
        return [entity.name for entity in self._tasks]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        options = options or {}
        task_id = options.get("task_id")
        if task_id is not None:
            found = self.kb.find(str(task_id))
            if found is None or found not in self._tasks:
                raise EnvError(f"task_id={task_id!r} is not an entity of {self.entity_list}/{self.split}")
            self._entity = found
        else:
            rng = random.Random(seed) if seed is not None else self._rng
            self._entity = self._tasks[rng.randrange(len(self._tasks))]
        self._history, self._unmapped = [], 0
        kind = KINDS[self.entity_list]
        observation = RULES.format(kind=kind, example=EXAMPLES[self.entity_list], turns=self.max_steps)
        return observation, self._info(answer=None)

    def _info(self, answer: str | None, **extra: Any) -> dict:
        assert self._entity is not None
        return {
            "won": bool(self._history) and self._history[-1][1] == BINGO,
            "answer": answer,
            "turn": len(self._history),
            "unmapped_questions": self._unmapped,
            "task_id": self._entity.name,
            "entity_list": self.entity_list,
            **extra,
        }

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        question = last_question(str(action))
        judgement = self.judge.judge(self._entity, question)
        if not judgement.mapped:
            self._unmapped += 1
        self._history.append((question, judgement.answer))
        turns = len(self._history)
        won = judgement.answer == BINGO
        reward = arena_score(turns) if won else 0.0
        # The game's final score is reported once the game is decided: on a win or on its last question.
        extra = {"score": reward} if won or turns >= self.max_steps else {}
        return judgement.answer, reward, won, False, self._info(judgement.answer, **extra)

    def expert_action(self) -> str:
        return self.expert_decision()[0]

    def expert_decision(self) -> tuple[str, str]:
        """The expert's next question and its reasoning ("37 candidates fit...; this splits them 18/19")."""
        return self._expert.decide(self._history)
