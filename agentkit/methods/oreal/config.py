"""OREAL's config: every section validated on load, with the paper's constants as defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agentkit.training.run import RecipeConfig
from agentkit.training.sft import AdapterConfig
from agentkit.training.warmup import WarmStartConfig

PAPER_K = 16  # samples per prompt in the paper


@dataclass
class DataConfig:
    """Training prompts are procedural arithmetic problems of the train split (`agentkit.eval.arithmetic`)."""

    levels: list[int] = field(default_factory=lambda: [1, 2, 3])
    per_level: int = 2000
    style: Literal["words", "expression"] = "words"
    seed: int = 1


@dataclass
class WarmupConfig(WarmStartConfig):
    """The SFT warm start built when `model: warm_start` (cached by content, so ablations share it)."""

    levels: list[int] = field(default_factory=lambda: [1, 2, 3])
    per_level: int = 2000
    seed: int = 0


@dataclass
class SamplingConfig:
    prompts_per_step: int = 64  # across all processes; must divide by the number of processes
    samples_per_prompt: int = PAPER_K
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 128
    backend: Literal["hf", "vllm"] = "hf"
    threads: int | None = None  # torch threads of the HF sampler

    def __post_init__(self) -> None:
        if self.samples_per_prompt < 2:
            raise ValueError(f"samples_per_prompt={self.samples_per_prompt} must be >= 2 (RLOO needs groups)")
        if self.prompts_per_step < 1:
            raise ValueError(f"prompts_per_step={self.prompts_per_step} must be >= 1")


@dataclass
class LossConfig:
    """Defaults from the paper. `negative_weight=0, kl_coef=0, token_rm=false` is rejection-sampling
    fine-tuning (behaviour cloning on positives) with the same loop."""

    positives_per_prompt: int = 1
    negatives_per_prompt: int = 1
    negative_weight: float = 0.5  # eta
    kl_coef: float = 0.01  # beta, k3 estimator
    token_rm: bool = True
    rm_warmup_steps: int = 10  # the policy is frozen while the token reward model warms up
    rm_learning_rate: float = 2e-6
    normalize_token_weights: bool = True  # each sample's token weights average 1
    pass_rate_weighting: bool = False  # weigh prompts by 1 - pass rate (harder prompts count more)

    def __post_init__(self) -> None:
        for name in ("positives_per_prompt", "negatives_per_prompt"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        for name in ("negative_weight", "kl_coef", "rm_learning_rate"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0")
        if self.rm_warmup_steps < 0:
            raise ValueError(f"rm_warmup_steps={self.rm_warmup_steps} must be >= 0")


@dataclass
class OptimConfig:
    steps: int = 80
    learning_rate: float = 5e-7
    warmup_steps: int = 0  # linear learning-rate warm-up once the policy starts learning
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    save_total_limit: int = 2

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps={self.steps} must be >= 1")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate={self.learning_rate} must be > 0")
        if self.save_total_limit < 1:
            raise ValueError(f"save_total_limit={self.save_total_limit} must be >= 1")


@dataclass
class EvalConfig:
    """Held-out problems of the test split: greedy accuracy, and pass@k from `samples` samples each."""

    levels: list[int] = field(default_factory=lambda: [1, 2, 3])
    per_level: int = 100
    samples: int = 8
    temperature: float = 1.0
    ks: list[int] = field(default_factory=lambda: [1, 4])
    max_tokens: int = 128
    include_start: bool = True  # also evaluate the starting policy
    threads: int | None = None

    def __post_init__(self) -> None:
        bad = [k for k in self.ks if not 1 <= k <= self.samples]
        if bad:
            raise ValueError(f"ks={self.ks}: every k must be between 1 and samples={self.samples}")


@dataclass
class OrealConfig(RecipeConfig):
    model: str = "warm_start"  # the SFT warm start (`warmup:`), preset:tiny / preset:small, or a model folder
    output_dir: str = "runs/oreal"
    data: DataConfig = field(default_factory=DataConfig)
    warmup: WarmupConfig = field(default_factory=WarmupConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    lora: AdapterConfig = field(default_factory=AdapterConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    skip_eval: bool = False
    report_to: list[str] = field(default_factory=list)  # accelerate trackers, e.g. [tensorboard] (OUTPUT_DIR/tb)

    def __post_init__(self) -> None:
        if self.lora.full_finetune:
            raise ValueError("full_finetune=True: OREAL trains a LoRA adapter (the base is its reference)")
