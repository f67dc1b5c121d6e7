"""What the agent model sees each turn and how its reply is read, shared by every recipe and env.

Prompts are kept short on purpose: with small models most tokens of a sequence are prompt, so every
line here is paid for on every turn. The history window bounds that cost on long episodes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from agentkit.trajectory import Turn

DEFAULT_SYSTEM = "You play a text game. Reach the goal given in the first observation. One command per turn."
_THOUGHT_INSTRUCTION = "Reply as:\nThought: <short reasoning>\nAction: <command>"
_ACTION_INSTRUCTION = "Reply as:\nAction: <command>"


@dataclass(frozen=True)
class PromptFormat:
    """Prompt settings.

    Args:
        system: the task instructions (the reply format instruction is appended to it).
        show_admissible: list the admissible commands under the latest observation.
        history: how many past (action, observation) steps the prompt keeps; None keeps them all.
            The first observation (it carries the objective) is always kept.
        thoughts: replies carry a `Thought:` line before the `Action:` line.
        thoughts_in_order: of the thoughts the env offers (see `thought_options`), once the agent's last
            thought is one of them, offer only it and the next: a plan given step by step is followed in
            order, so the agent either is still on its step or moves on to the next one.
        past_thoughts: earlier replies in the window keep their `Thought:` line; false shows only their
            `Action:` line, so the agent reads its place off what it did and saw, not off its last thought
            (which a small model copies instead of moving on).
        past_commands: earlier observations in the window keep their admissible commands too. With
            `history: null` every prompt of an episode then extends the one before it, so training packs an
            episode's decisions into one sequence (`agentkit.training.data.decision_samples`) and scoring
            reuses the last step's cached prompt: on a CPU, a real model pays for each token once.
    """

    system: str = DEFAULT_SYSTEM
    show_admissible: bool = True
    history: int | None = 8
    thoughts: bool = False
    thoughts_in_order: bool = False
    past_thoughts: bool = True
    past_commands: bool = False

    def __post_init__(self) -> None:
        if self.history is not None and (not isinstance(self.history, int) or self.history < 0):
            raise ValueError(f"PromptFormat.history={self.history!r} must be None or an int >= 0")

    def system_prompt(self) -> str:
        return f"{self.system}\n{_THOUGHT_INSTRUCTION if self.thoughts else _ACTION_INSTRUCTION}"

    def observation(self, text: str, admissible: list[str] | None = None) -> str:
        """A user message: the observation, then the admissible commands when the format shows them."""
        if self.show_admissible and admissible:
            return f"{text}\nCommands: {', '.join(admissible)}"
        return text

    def reply(self, action: str, thought: str | None = None) -> str:
        """The assistant message a model is trained to produce for this action (and thought)."""
        if self.thoughts and thought:
            return f"Thought: {thought.strip()}\nAction: {action}"
        return f"Action: {action}"

    def observation_turn(self, observation: str, info: dict) -> Turn:
        """The stored user turn: the raw observation, with the admissible commands (and the thoughts the
        env offers, see `thought_options`) kept in its info."""
        kept = {key: info[key] for key in ("admissible_actions", "thought_options") if info.get(key) is not None}
        return Turn("user", observation, info=kept)

    def thought_options(self, turns: list[Turn]) -> list[str] | None:
        """The thoughts the env offers for this episode (its first observation's `thought_options`, e.g.
        the sentences of a TextWorld objective), which the agent chooses among as it chooses among the
        admissible commands; None when it offers none or replies carry no thought."""
        if not self.thoughts or len(turns) < 2:
            return None
        options = turns[1].info.get("thought_options")
        last = turns[-2].thought if len(turns) > 2 and turns[-2].role == "assistant" else None
        if self.thoughts_in_order and options and last in options:
            at = options.index(last)
            return options[at : at + 2]
        return options

    def messages_for(self, turns: list[Turn]) -> list[dict[str, str]]:
        """The prompt for the next decision, from the episode's turns so far (system turn first).

        The same function builds inference prompts and training samples, so a model is trained on exactly
        what it sees when it acts.
        """
        first, rest = turns[1], turns[2:]
        kept = len(rest) // 2 if self.history is None else min(self.history, len(rest) // 2)
        window = [first, *rest[len(rest) - 2 * kept :]] if kept else [first]
        messages = [{"role": "system", "content": self.system_prompt()}]
        for index, turn in enumerate(window):
            if turn.role != "user":
                messages.append({"role": turn.role, "content": self._past_reply(turn)})
                continue
            shown = self.past_commands or index == len(window) - 1
            admissible = turn.info.get("admissible_actions") if shown else None
            messages.append({"role": "user", "content": self.observation(turn.text, admissible)})
        return messages

    def _past_reply(self, turn: Turn) -> str:
        """An earlier reply as the prompt shows it: whole, or its command alone without `past_thoughts`."""
        if self.past_thoughts or not (turn.thought and turn.action):
            return turn.text
        return self.reply(turn.action)

    def decisions(self, turns: list[Turn]) -> Iterator[tuple[list[dict[str, str]], Turn, list[Turn]]]:
        """Every decision of an episode: (the prompt the agent saw, its reply turn, the turns before it,
        the last being the observation it answered), for training samples and for replaying an expert's
        choices."""
        for index, turn in enumerate(turns):
            if turn.role == "assistant" and index > 0:
                before = turns[:index]
                yield self.messages_for(before), turn, before


_ACTION_LINE = re.compile(r"^\s*action\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)
_THOUGHT = re.compile(
    r"^\s*thought\s*:\s*(.*?)(?=^\s*action\s*:|\Z)", re.IGNORECASE | re.MULTILINE | re.DOTALL
)
_QUOTES = "`'\"*"


def _clean_command(text: str) -> str | None:
    command = text.strip().strip(_QUOTES).strip().rstrip(".!").strip()
    return command or None


def parse_action(completion: str) -> tuple[str | None, str | None]:
    """Read a reply into (thought, action); never raises.

    Accepts `Thought: ...\\nAction: ...`, `Action: ...`, or a bare one-line command. The last `Action:`
    line wins. A reply with no `Action:` line and more than one line (or only a thought) has no action.
    """
    if not isinstance(completion, str):
        return None, None
    thought_match = _THOUGHT.search(completion)
    thought = (thought_match.group(1).strip() or None) if thought_match else None
    actions = _ACTION_LINE.findall(completion)
    if actions:
        return thought, _clean_command(actions[-1])
    lines = [line for line in completion.strip().splitlines() if line.strip()]
    if thought is None and len(lines) == 1:
        return None, _clean_command(lines[0])
    return thought, None
