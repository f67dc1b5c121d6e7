"""TextWorld games generated offline (TextWorld ships its Inform7 compiler) as agentkit envs."""

from agentkit.envs.textworld.env import TextWorldEnv
from agentkit.envs.textworld.games import GAME_SETS, SPLITS, GameRecord, GameSet, load_games

__all__ = ["GAME_SETS", "SPLITS", "GameRecord", "GameSet", "TextWorldEnv", "load_games"]
