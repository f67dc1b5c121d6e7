"""`TextWorldEnv`: generated TextWorld games behind agentkit's `TextEnv` interface."""

from __future__ import annotations

import os
import re
from typing import Any

from agentkit.envs.base import EnvError, TextEnv
from agentkit.envs.textworld.expert import THOUGHTS, Expert, objective_sentences
from agentkit.envs.textworld.games import DEFAULT_CACHE_DIR, GameRecord, load_games, quiet_jericho

# Z-machine meta-commands: the interpreter answers them with a yes/no question that every later command
# fails to answer ("Please answer yes or no"), which would wedge the episode. The wrapper answers them.
META_COMMANDS = frozenset({"restart", "quit", "q", "undo", "save", "restore", "script", "unscript",
                           "transcript", "noscript"})
META_REPLY = "That command is not available in this game."
_WHITESPACE = re.compile(r"\s+")
_ALNUM = re.compile(r"[A-Za-z0-9]")
# The interpreter's prompt followed by its status bar (room, score/moves), e.g. ">      -= Cellar =-0/1".
_PROMPT_STATUS = re.compile(r"^>.*$", re.MULTILINE)


def normalize_action(action: str) -> str:
    """Lower case, single spaces, no newlines: one line is one game command."""
    return _WHITESPACE.sub(" ", action).strip().lower()


def clean_observation(text: str) -> str:
    """Drop the ASCII-art banner (leading lines with no letter or digit), the prompt and status bar."""
    lines = _PROMPT_STATUS.sub("", text).split("\n")
    start = 0
    while start < len(lines) and not _ALNUM.search(lines[start]):
        start += 1
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in lines[start:])).strip()


def start_game(game: GameRecord, *, admissible: bool, policy: bool = False) -> Any:
    """A TextWorld Environment for the game; `policy_commands` is opt-in as it costs 2-4x per step."""
    import textworld

    infos = textworld.EnvInfos(objective=True, score=True, max_score=True, won=True, lost=True,
                               admissible_commands=admissible, policy_commands=policy)
    try:
        with quiet_jericho():
            return textworld.start(str(game.path), infos)
    except Exception as exc:  # jericho / TextWorld reject a corrupt file with assorted errors
        raise EnvError(f"cannot load game {game.path}: {type(exc).__name__}: {exc}") from exc


class TextWorldEnv(TextEnv):
    """A split of a TextWorld game set; each task is one generated game.

    Args:
        game_set: one of `games.GAME_SETS` (custom, tw-simple, tw-cooking, tw-coin_collector,
            tw-treasure_hunter).
        split: train, valid, test or test_hard (harder parameters).
        n_games: how many games the split holds (generated on first use, then cached).
        cache_dir: where generated games are cached.
        max_steps: episodes are truncated after this many actions (by `make()`'s `EpisodeLimit`).
        admissible_actions: put the game's admissible commands in `info` (costs about half the speed).
        generation_seed: draw a fresh set of games from this seed instead of the split's fixed seeds.
        workers: processes used to generate missing games.
        thought_steps: the expert's thought names this many next commands (None: the whole remaining
            plan with a step counter); see `Expert.next_decision`.
        thought: what the expert's thought says: `plan` (the commands left, as above) or `instruction`
            (the objective's sentence for the current step; the objective's sentences are then offered to
            the agent as `info["thought_options"]` at reset).
        progress: show a progress bar while generating.
        **params: generator parameters overriding the split's (e.g. world_size=4 or quest_length=[3, 4]).
    """

    name = "textworld"

    def __init__(
        self,
        game_set: str = "custom",
        split: str = "train",
        n_games: int = 20,
        *,
        cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
        max_steps: int = 50,
        admissible_actions: bool = True,
        generation_seed: int | None = None,
        workers: int = 1,
        progress: bool = False,
        thought_steps: int | None = None,
        thought: str = "plan",
        **params: Any,
    ):
        if not isinstance(max_steps, int) or max_steps < 1:
            raise EnvError(f"max_steps={max_steps!r} must be a positive int")
        if thought_steps is not None and (not isinstance(thought_steps, int) or thought_steps < 1):
            raise EnvError(f"thought_steps={thought_steps!r} must be None or a positive int")
        if thought not in THOUGHTS:
            raise EnvError(f"thought={thought!r} must be one of {THOUGHTS}")
        self.thought_steps = thought_steps
        self.thought = thought
        self.max_steps = max_steps
        self.game_set = game_set
        self.split = split
        self.admissible_actions = admissible_actions
        games = load_games(game_set, split, n_games, cache_dir=cache_dir, params=params,
                           generation_seed=generation_seed, workers=workers, progress=progress)
        self._games: dict[str, GameRecord] = {game.game_id: game for game in games}
        self._game: GameRecord | None = None
        self._tw: Any = None  # the running textworld Environment
        self._state: Any = None  # its last GameState
        self._expert: Expert | None = None
        self._commands: list[str] = []  # commands sent to the game this episode (the expert replays them)
        self._moves = 0  # actions this episode, meta-commands included (info["moves"])
        self._score = 0.0
        self._next_task = 0

    def task_ids(self) -> list[str]:
        return list(self._games)

    def game(self, task_id: str) -> GameRecord:
        if task_id not in self._games:
            raise EnvError(f"unknown task_id {task_id!r} for {self.game_set}/{self.split}")
        return self._games[task_id]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        task_ids = self.task_ids()
        if options and options.get("task_id") is not None:
            game = self.game(options["task_id"])
        elif seed is not None:
            game = self._games[task_ids[seed % len(task_ids)]]
        else:  # no seed, no task: walk through the split in order
            game = self._games[task_ids[self._next_task % len(task_ids)]]
            self._next_task += 1
        self._load(game)
        if self._expert is not None:
            self._expert.close()
        try:
            state = self._tw.reset()
        except Exception as exc:
            raise EnvError(f"cannot start game {game.path}: {type(exc).__name__}: {exc}") from exc
        self._state = state
        self._commands = []
        self._moves = 0
        objective = state["objective"].strip()
        self._expert = Expert(
            game,
            self._commands,
            lambda: start_game(game, admissible=False, policy=True),
            self.thought_steps,
            self.thought,
            objective,
        )
        self._score = float(state["score"])
        observation = clean_observation(state.feedback)
        if objective and objective not in observation:
            observation = f"{objective}\n\n{observation}"
        info = self._info(state)
        if self.thought == "instruction":  # the agent keeps its place by choosing the sentence it is on
            info["thought_options"] = objective_sentences(objective)
        return observation, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if not isinstance(action, str):
            raise EnvError(f"action must be a str, got {type(action).__name__}")
        command = normalize_action(action)
        if command in META_COMMANDS:
            observation, state = META_REPLY, self._state
        else:
            state, _, _ = self._tw.step(command)
            observation = clean_observation(state.feedback)
            self._commands.append(command)
        self._state = state
        self._moves += 1
        score = float(state["score"])
        reward, self._score = score - self._score, score
        terminated = bool(state["won"] or state["lost"])
        return observation, reward, terminated, False, self._info(state)

    def expert_action(self) -> str:
        return self.expert_decision()[0]

    def expert_decision(self) -> tuple[str, str]:
        """The expert's command and its sub-goal from the quest (see `Expert.next_decision`)."""
        return self._expert.next_decision()

    def _info(self, state: Any) -> dict[str, Any]:
        info = {
            "won": bool(state["won"]),
            "lost": bool(state["lost"]),
            "score": float(state["score"]),
            "max_score": float(state["max_score"]),
            "moves": self._moves,
            "task_id": self._game.game_id,
        }
        if self.admissible_actions:
            info["admissible_actions"] = list(state["admissible_commands"])
        return info

    def _load(self, game: GameRecord) -> None:
        """Start the game's interpreter, reusing the running one when the task is the same."""
        if self._game is not None and self._game.path == game.path and self._tw is not None:
            return
        self._close_game()
        if not game.path.exists():
            raise EnvError(f"game file {game.path} is missing (a new TextWorldEnv regenerates it)")
        self._tw = start_game(game, admissible=self.admissible_actions)
        self._game = game

    def _close_game(self) -> None:
        if self._expert is not None:
            self._expert.close()
            self._expert = None
        if self._tw is not None:
            self._tw.close()
            self._tw = None
        self._game = None

    def close(self) -> None:
        self._close_game()
