"""A token-level reward model learned from outcome rewards alone, as in OREAL (Lyu et al., 2025).

Only the final answer is verified, yet some tokens of a solution matter far more than others (the step
that goes wrong, the number copied correctly). A linear head on the policy's last hidden states gives every
completion token a score s_t; it is trained with binary cross-entropy so that the mean of a sequence's
token scores predicts its outcome: BCE(sigmoid(mean_t s_t), correct). Tokens whose scores pull that mean
towards success are the ones the outcome hinges on, so the policy loss weighs a correct sample's tokens by
sigmoid(s_t) and an incorrect sample's tokens by 1 - sigmoid(s_t).

The head reads hidden states detached from the policy, so training it never moves the policy.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

HEAD_FILE = "token_reward_head.pt"


class TokenRewardHead(nn.Module):
    """hidden (B, T, H) -> one score (logit) per token (B, T); starts at 0: every token weighs the same."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden.detach().float()).squeeze(-1)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / HEAD_FILE
        torch.save({"hidden_size": self.linear.in_features, "state_dict": self.state_dict()}, path)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> TokenRewardHead:
        saved = torch.load(Path(folder) / HEAD_FILE, weights_only=True)
        head = cls(saved["hidden_size"])
        head.load_state_dict(saved["state_dict"])
        return head


def sequence_logits(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean token score over each row's masked (completion) tokens: the predicted outcome's logit (B,)."""
    mask = mask.to(scores.dtype)
    return (scores * mask).sum(-1) / mask.sum(-1).clamp(min=1)


def token_reward_loss(scores: torch.Tensor, mask: torch.Tensor, outcomes: torch.Tensor) -> torch.Tensor:
    """BCE between sigmoid(mean token score) and the verified outcome (1 correct, 0 incorrect), batch mean."""
    return F.binary_cross_entropy_with_logits(sequence_logits(scores, mask), outcomes.to(scores.dtype))


def token_weights(
    scores: torch.Tensor, mask: torch.Tensor, correct: torch.Tensor, normalize: bool = True
) -> torch.Tensor:
    """Per-token loss weights (B, T), no gradient: sigmoid(s) on correct rows, 1 - sigmoid(s) on incorrect
    rows, 0 off the mask. With `normalize`, each row's weights average 1 over its tokens, so the weights
    only redistribute a sample's loss among its tokens and the loss scale matches unweighted training."""
    probs = torch.sigmoid(scores.detach().float())
    weights = torch.where(correct.bool().unsqueeze(-1), probs, 1 - probs) * mask.to(probs.dtype)
    if normalize:
        weights = weights / sequence_logits(weights, mask).clamp(min=1e-6).unsqueeze(-1)
    return weights
