"""Multi-turn text environments behind one interface (`agentkit.envs.make(name, ...)`)."""

from agentkit.envs.base import EnvError, TextEnv
from agentkit.envs.checker import CheckReport, EnvCheckError, check_env
from agentkit.envs.episode_limit import EpisodeLimit
from agentkit.envs.registry import EnvSpec, make, register, registered, spec

__all__ = [
    "CheckReport",
    "EnvCheckError",
    "EnvError",
    "EnvSpec",
    "EpisodeLimit",
    "TextEnv",
    "check_env",
    "make",
    "register",
    "registered",
    "spec",
]

# Built-in envs. Entry points import lazily, so listing them costs nothing.
register(
    "textworld",
    "agentkit.envs.textworld.env:TextWorldEnv",
    "TextWorld text games generated offline (custom, tw-simple, tw-cooking, tw-coin_collector, tw-treasure_hunter)",
)
register(
    "entity_deduction",
    "agentkit.envs.entity_deduction.env:EntityDeductionEnv",
    "20 questions from the Entity-Deduction Arena: find a hidden thing or celebrity with yes/no questions",
)
register(
    "textcraft",
    "agentkit.envs.minecraft.textcraft:TextCraftEnv",
    "Offline text Minecraft: craft a target item from real Minecraft 1.16 recipes",
)
register(
    "plancraft",
    "agentkit.envs.minecraft.plancraft:PlancraftEnv",
    "Plancraft: craft on a 3x3 grid with move/smelt/impossible actions; its optimal planner is the expert",
    extra="minecraft",
)
register(
    "minedojo",
    "agentkit.envs.minecraft.minedojo:MineDojoEnv",
    "MineDojo tasks with text observations and actions (only where MineDojo, gym 0.21 and JDK 8 are installed)",
    extra="minecraft",
)
