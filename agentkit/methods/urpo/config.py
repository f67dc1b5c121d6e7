"""URPO's config: data, batch mix, warm start, referee, GRPO and evaluation sections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agentkit.training.run import RecipeConfig
from agentkit.training.sft import AdapterConfig
from agentkit.training.warmup import WarmStartConfig

KINDS = ("verifiable", "ranking", "open")


@dataclass
class DataConfig:
    """Arithmetic problems come from the train split, evaluation from the test split (never shared); the
    warm start and GRPO get different train problems (`warmup_per_level`, then `train_per_level`).
    `preferences` (user JSONL) and `trajectories` (episodes) add ranking data to the arithmetic pairs."""

    levels: list[int] = field(default_factory=lambda: [1])
    warmup_per_level: int = 2000
    train_per_level: int = 500
    eval_per_level: int = 200
    eval_pairs_per_level: int = 200
    preferences: str | None = None
    trajectories: str | None = None


@dataclass
class MixConfig:
    """Shares of each kind of prompt in every batch (normalised; a zero leaves a kind out)."""

    verifiable: float = 0.4
    ranking: float = 0.4
    open: float = 0.2

    def __post_init__(self) -> None:
        shares = self.shares()
        if any(v < 0 for v in shares.values()) or sum(shares.values()) <= 0:
            raise ValueError(f"mix shares must be >= 0 with a positive sum, got {shares}")

    def shares(self) -> dict[str, float]:
        return {"verifiable": self.verifiable, "ranking": self.ranking, "open": self.open}


@dataclass
class WarmupConfig(WarmStartConfig):
    """The full fine-tune that teaches a fresh tiny model the formats, with the answers: gold rankings
    and rubric scores. `ranking_reply: audit` puts the referee's work before its verdict: each answer's
    disputed step copied, recomputed and marked (`A: 19 - 7 = 14, is 12, wrong`), then `Ranking: B > A`.
    Each part is then a short local step (copy a line, do one sum, compare two numbers, name the letter
    marked right), and the sum is the player's own arithmetic, so what RL teaches one role serves the
    other. Measured on held-out pairs: the verdict follows the line marked right 98% of the time (after
    a single `Check: 19 - 7 = 12` it agreed with that check 54% of the time), the copy is right 100%
    and the sum 81%, but the mark agrees with the two numbers it compares only ~49%: the tiny model has
    not learnt to compare them. `verdict` writes the ranking alone; `ranking_labels: random` gives random
    orders, so that any ranking skill comes from the RL step alone."""

    steps: int = 2000
    arithmetic: int = 2000
    ranking: int = 2000
    scoring: int = 600
    open: int = 400
    ranking_labels: Literal["gold", "random"] = "gold"
    ranking_reply: Literal["audit", "verdict"] = "audit"


@dataclass
class RefereeConfig:
    mode: Literal["self", "frozen"] = "self"
    ranking_metric: Literal["kendall", "top1"] = "top1"
    format_bonus: float = 0.2  # a well-formed but wrong ranking's reward (a broken reply earns 0)
    low: int = 0
    high: int = 10
    max_new_tokens: int = 64  # room for the audit lines before the verdict

    def __post_init__(self) -> None:
        if not 0 <= self.format_bonus < 1:
            raise ValueError(f"format_bonus={self.format_bonus} must be in [0, 1)")


@dataclass
class GRPOLoopConfig:
    steps: int = 200
    prompts_per_step: int = 8
    num_generations: int = 4
    learning_rate: float = 1e-3
    max_completion_length: int = 64
    temperature: float = 1.0
    beta: float = 0.0
    logging_steps: int = 5
    save_steps: int = 20
    report_to: list[str] = field(default_factory=list)  # e.g. [tensorboard]: offline events under checkpoints/runs
    # Any other option of TRL's GRPOConfig, under TRL's own name (e.g. epsilon: 0.3).
    trl: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.num_generations < 2:
            raise ValueError(f"num_generations={self.num_generations} must be >= 2 (advantages are group-relative)")
        if self.steps < 1 or self.prompts_per_step < 1:
            raise ValueError("steps and prompts_per_step must be >= 1")


@dataclass
class EvalConfig:
    max_new_tokens: int = 64
    batch_size: int = 32


@dataclass
class URPOConfig(RecipeConfig):
    model: str = "warm_start"  # the shared warm start (`warmup:`); else a model folder that knows the formats
    output_dir: str = "runs/urpo"
    threads: int | None = None  # torch's intra-op threads for the whole run (one is faster on a busy CPU)
    data: DataConfig = field(default_factory=DataConfig)
    mix: MixConfig = field(default_factory=MixConfig)
    warmup: WarmupConfig = field(default_factory=WarmupConfig)
    referee: RefereeConfig = field(default_factory=RefereeConfig)
    lora: AdapterConfig = field(default_factory=AdapterConfig)
    grpo: GRPOLoopConfig = field(default_factory=GRPOLoopConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    skip_eval: bool = False

    def __post_init__(self) -> None:
        if self.grpo.trl:  # checked by building TRL's config now, not when training starts
            from agentkit.methods.urpo.training import grpo_args

            try:
                grpo_args(self, "trl-check", cpu=True)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"grpo.{exc}" if str(exc).startswith("trl.") else f"grpo.trl: {exc}") from exc
