"""Rewards as plain callables: TRL's trainers take them as `reward_funcs`, the project's loops call them."""

from agentkit.reward_models.env_outcome import env_outcome_reward, episode_reward, outcome_reward
from agentkit.reward_models.math_reward import completion_text, make_math_reward, math_reward

__all__ = [
    "completion_text",
    "env_outcome_reward",
    "episode_reward",
    "make_math_reward",
    "math_reward",
    "outcome_reward",
]
