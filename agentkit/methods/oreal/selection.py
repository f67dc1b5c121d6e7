"""Which samples of best-of-K sampling one OREAL step trains on."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Selection:
    """The samples one step trains on: (group, completion) pairs, whether each is correct, its RLOO
    advantage and its prompt's weight; plus how many groups were kept."""

    picks: list[tuple[int, int]]
    correct: list[bool]
    advantages: list[float]
    prompt_weights: list[float]
    groups_kept: int


def select_samples(
    rewards: list[list[float]],
    usable: list[list[bool]],
    positives: int,
    negatives: int,
    pass_rate_weighting: bool,
) -> Selection:
    """Drop groups whose samples are all correct or all wrong (they carry no contrast); from the others
    keep the first `positives` correct and `negatives` incorrect usable samples (samples are i.i.d., so the
    first ones are a fair draw). Advantages are RLOO over the whole group."""
    from agentkit.methods.oreal.policy_gradient import rloo_advantages

    picks, correct, advantages, weights = [], [], [], []
    kept = 0
    for g, (group, ok) in enumerate(zip(rewards, usable, strict=True)):
        wins = [i for i, r in enumerate(group) if r > 0 and ok[i]][:positives]
        losses = [i for i, r in enumerate(group) if r <= 0 and ok[i]][:negatives]
        if not wins or not losses:
            continue
        kept += 1
        group_advantages = rloo_advantages(torch.tensor(group, dtype=torch.float64)).tolist()
        pass_rate = sum(r > 0 for r in group) / len(group)
        for index in wins + losses:
            picks.append((g, index))
            correct.append(group[index] > 0)
            advantages.append(group_advantages[index])
            weights.append(1.0 - pass_rate if pass_rate_weighting else 1.0)
    if pass_rate_weighting and weights:
        mean = sum(weights) / len(weights)
        weights = [w / mean for w in weights]
    return Selection(picks, correct, advantages, weights, kept)
