"""The TextWorld expert: the game's walkthrough, and TextWorld's own planner once the agent leaves it.

TextWorld's `policy_commands` (a winning plan from the current state) costs 2-4x per step because it
tracks quests on every move, so the main game runs without it. Only when the agent has gone off the
walkthrough does the expert start a shadow copy of the game with quest tracking on, replay the agent's
commands into it once, and then keep it in step incrementally. Agent-R and DAgger-style recipes can so
hand control to the expert at any point of an episode.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from agentkit.envs.base import EnvError
from agentkit.envs.textworld.games import GameRecord

THOUGHTS = ("plan", "instruction")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z]+")


def objective_sentences(objective: str) -> list[str]:
    """The objective's sentences, in order."""
    return [sentence for sentence in _SENTENCE_END.split(objective.strip()) if sentence]


def instruction_start(sentences: list[str], walkthrough: Sequence[str]) -> int | None:
    """Which of the objective's `sentences` is the first command's; None when there are fewer sentences
    than commands (e.g. "Your objective is to eat the fondue." for a longer quest).

    TextWorld writes a quest's objective as one instruction per command, in order, between greeting and
    closing sentences whose number varies ("Welcome to TextWorld! ... First, head east. Then, take the
    latchkey from the table. ... Got that? Good!"). The block of consecutive sentences whose words best
    cover the commands' words is the instructions.
    """
    if not walkthrough or len(sentences) < len(walkthrough):
        return None

    def overlap(start: int) -> int:
        return sum(
            len(set(_WORD.findall(command.lower())) & set(_WORD.findall(sentences[start + i].lower())))
            for i, command in enumerate(walkthrough)
        )

    return max(range(len(sentences) - len(walkthrough) + 1), key=overlap)


def walkthrough_step(plan: Sequence[str], walkthrough: Sequence[str]) -> int | None:
    """The step of the walkthrough a winning `plan` resumes: the first j whose rest of the walkthrough
    (`walkthrough[j:]`) the plan ends with, the commands before it undoing a detour (back to a room, a
    container opened again); None when the plan ends with no step of it."""
    for j in range(max(0, len(walkthrough) - len(plan)), len(walkthrough)):
        if list(plan[len(plan) - (len(walkthrough) - j) :]) == list(walkthrough[j:]):
            return j
    return None


class Expert:
    """Next expert command for one episode.

    `commands` is the live list of commands sent to the game; `start_tracked` starts a fresh copy of the
    game with `policy_commands` requested. `thought` picks what the expert's thought says (see
    `next_decision`); `objective` is the goal text the player was given.
    """

    def __init__(
        self,
        game: GameRecord,
        commands: list[str],
        start_tracked: Callable[[], Any],
        thought_steps: int | None = None,
        thought: str = "plan",
        objective: str = "",
    ):
        self.game = game
        self.commands = commands
        self._start_tracked = start_tracked
        self.thought_steps = thought_steps
        self._instructions: list[str] | None = None
        if thought == "instruction":
            sentences = objective_sentences(objective)
            start = instruction_start(sentences, game.walkthrough)
            if start is not None:
                self._instructions = sentences[start : start + len(game.walkthrough)]
        self._shadow: Any = None
        self._shadow_state: Any = None
        self._replayed = 0

    def remaining_plan(self) -> list[str]:
        """The commands that still win: the rest of the walkthrough, or the planner's once off it."""
        walkthrough = self.game.walkthrough
        done = len(self.commands)
        if done < len(walkthrough) and tuple(self.commands) == walkthrough[:done]:
            return list(walkthrough[done:])
        plan = self._plan()
        if not plan:
            raise EnvError(f"{self.game.game_id}: no winning plan from this state (the game is won or lost)")
        return plan

    def next_decision(self) -> tuple[str, str]:
        """The next command and the sub-goal behind it, read off the quest: which step of how many, and
        what is left to do ("Step 3 of 4. Left: take fly larva from box, then drop fly larva.").

        With `thought_steps` the thought names only that many next commands and whether they finish the
        quest ("Next: go east, then take fly larva." / "Next: drop fly larva. Then done."): as long on a
        six-step quest as on a three-step one, so it reads the same on longer quests than the training ones.

        With `thought="instruction"` the thought is the objective's sentence for the current step of the
        walkthrough, word for word ("Then, take the fly larva from the box."): the agent keeps its place in
        the instructions by moving one sentence on from its last thought, the same move on a quest of any
        length. (Quoting the sentence just done too, "Done: ... Now: ...", measured worse: 40% against 58%
        held-out success on 1200 games.) Off the walkthrough the thought stays on the sentence of the step
        the planner's plan resumes (`walkthrough_step`) while its first commands undo the detour, so the
        agent learns to keep a sentence until it is carried out; when the plan resumes no step (or the
        objective has no sentence per step) it is the planner's next command ("Next: go west.").
        """
        plan = self.remaining_plan()
        if self._instructions is not None:
            step = walkthrough_step(plan, self.game.walkthrough)
            return plan[0], f"Next: {plan[0]}." if step is None else self._instructions[step]
        if self.thought_steps is not None:
            shown = plan[: self.thought_steps]
            return plan[0], f"Next: {', then '.join(shown)}.{' Then done.' if len(shown) == len(plan) else ''}"
        total = max(len(self.game.walkthrough), len(plan))
        return plan[0], f"Step {total - len(plan) + 1} of {total}. Left: {', then '.join(plan)}."

    def _plan(self) -> list[str]:
        """TextWorld's winning plan from the current state, via the shadow game."""
        if self._shadow is None:
            self._shadow = self._start_tracked()
            self._shadow_state = self._shadow.reset()
            self._replayed = 0
        for command in self.commands[self._replayed :]:
            self._shadow_state, _, _ = self._shadow.step(command)
        self._replayed = len(self.commands)
        return list(self._shadow_state["policy_commands"])

    def close(self) -> None:
        if self._shadow is not None:
            self._shadow.close()
            self._shadow = None
