"""Advantages of a task's G episodes: episode-level GRPO, and GiGPO's step-level groups on top of it.

GiGPO (Feng et al., 2025, "Group-in-Group Policy Optimization for LLM Agent Training"). For the G episodes
{tau_1 .. tau_G} of one task, all started from the same initial state:

    episode level:  A^E(tau_i) = (R(tau_i) - mean_j R(tau_j)) / F_norm({R(tau_j)})
    step level:     the anchor state groups G^S(s) = {(i, t) : s_t^(i) = s}, the steps taken from an identical
                    state s anywhere in the G episodes, each with its discounted return
                    R_t^(i) = sum_{k >= t} gamma^(k - t) r_k^(i)
                    A^S(a_t^(i)) = (R_t^(i) - mean_{(j, u) in G^S(s)} R_u^(j)) / F_norm({R_u^(j)})
    combined:       A(a_t^(i)) = A^E(tau_i) + omega * A^S(a_t^(i))

F_norm is the group's standard deviation (`scale`) or 1. GRPO over episodes is omega = 0: every step of an
episode shares its episode's advantage. A state visited once has a step group of one and a step advantage
of 0, so GiGPO only adds credit where the episodes met the same state and acted differently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from agentkit.training.policy_gradient import group_advantages
from agentkit.trajectory import Episode, Turn

StepIndex = tuple[int, int]  # (episode within the group, step within the episode)


@dataclass(frozen=True)
class EpisodeSteps:
    """What the advantages read from one episode: its return, and per step its anchor state and reward."""

    episode_return: float
    states: list[str]
    rewards: list[float]


def anchor_state(observation: Turn) -> str:
    """The state a step acted from, as the agent saw it: the observation text and its admissible commands.
    Two steps share a GiGPO group only when these are identical."""
    commands = observation.info.get("admissible_actions") or []
    return "\n".join([observation.text, *sorted(commands)])


def episode_steps(episode: Episode, outcome: float, step_rewards: bool) -> EpisodeSteps:
    """The episode's steps: the outcome reward arrives at its last step; with `step_rewards` each step's
    env reward is added to its own step (and so to the episode's return)."""
    turns = episode.turns
    acted = [index for index, turn in enumerate(turns) if turn.role == "assistant"]
    states = [anchor_state(turns[index - 1]) for index in acted]
    rewards = [turns[index].reward if step_rewards else 0.0 for index in acted]
    if rewards:
        rewards[-1] += outcome
    return EpisodeSteps(outcome + (sum(turns[i].reward for i in acted) if step_rewards else 0.0), states, rewards)


def discounted_returns(rewards: Sequence[float], gamma: float) -> list[float]:
    """R_t = sum_{k >= t} gamma^(k - t) r_k for every step t."""
    returns, running = [0.0] * len(rewards), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def step_groups(states: Sequence[Sequence[str]]) -> list[list[StepIndex]]:
    """GiGPO's anchor state groups: the (episode, step) pairs of the group's episodes that acted from the very
    same state, one list per distinct state, in order of first visit."""
    groups: dict[str, list[StepIndex]] = {}
    for i, episode_states in enumerate(states):
        for t, state in enumerate(episode_states):
            groups.setdefault(state, []).append((i, t))
    return list(groups.values())


def _relative(values: Sequence[float], scale: bool) -> list[float]:
    """Group-relative values; a group of one has nothing to compare with and gets 0."""
    if len(values) < 2:
        return [0.0] * len(values)
    return group_advantages(torch.tensor(values, dtype=torch.float64), scale=scale).tolist()


def grpo_advantages(group: Sequence[EpisodeSteps], scale: bool = True) -> list[list[float]]:
    """Every step of episode i gets A^E(tau_i)."""
    episode = _relative([e.episode_return for e in group], scale)
    return [[a] * len(e.states) for a, e in zip(episode, group, strict=True)]


def gigpo_advantages(
    group: Sequence[EpisodeSteps], omega: float, gamma: float, scale: bool = True
) -> list[list[float]]:
    """A^E(tau_i) + omega * A^S(a_t^(i)) for every step (see the module docstring)."""
    advantages = grpo_advantages(group, scale)
    returns = [discounted_returns(e.rewards, gamma) for e in group]
    for members in step_groups([e.states for e in group]):
        relative = _relative([returns[i][t] for i, t in members], scale)
        for (i, t), a in zip(members, relative, strict=True):
            advantages[i][t] += omega * a
    return advantages


def task_advantages(
    episodes: Sequence[Episode],
    outcome: Callable[[Episode], float],
    estimator: str,
    step_rewards: bool = False,
    omega: float = 1.0,
    gamma: float = 0.95,
    scale: bool = True,
) -> list[list[float]]:
    """Per episode, per step: the advantages of one task's group of episodes under `estimator`."""
    group = [episode_steps(e, outcome(e), step_rewards) for e in episodes]
    if estimator == "gigpo":
        return gigpo_advantages(group, omega, gamma, scale)
    return grpo_advantages(group, scale)
