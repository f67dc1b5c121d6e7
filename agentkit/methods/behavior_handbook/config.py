"""Behavior-conditioned SFT's config: the student, the teacher, the handbook and the data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agentkit.training.run import RecipeConfig
from agentkit.training.sft import AdapterConfig, TrainConfig
from agentkit.training.warmup import WarmStartConfig

TASK = "arithmetic"


@dataclass
class DataConfig:
    """Problems of `agentkit.eval.arithmetic`: training problems from its train split, held-out ones from
    its test split (disjoint by construction)."""

    levels: list[int] = field(default_factory=lambda: [1, 2, 3])
    style: Literal["words", "expression"] = "words"
    train_per_level: int = 300
    eval_per_level: int = 50
    seed: int = 0


@dataclass
class StudentWarmStartConfig(WarmStartConfig):
    """The student's base when `model: warm_start`: a tiny preset fully trained on the benchmark's own
    reference solutions to other training problems (neither the verbose nor the concise trace style)."""

    problems_per_level: int = 300


@dataclass
class TeacherConfig:
    backend: Literal["scripted", "hf", "vllm", "openai"] = "scripted"
    model: str = ""  # a model folder (hf, vllm) or a served model's name (openai); unused when scripted
    kwargs: dict[str, Any] = field(default_factory=dict)
    max_tokens: int = 512
    temperature: float = 0.0


@dataclass
class HandbookConfig:
    """`path`: an existing handbook; else the teacher extracts one from `extract_problems` training
    problems. Retrieval per problem: `topic` takes every behavior tagged with the benchmark's topic;
    `bm25` / `embedding` / `auto` the `k` behaviors closest to the question."""

    path: str | None = None
    extract_problems: int = 30
    retrieval: Literal["topic", "bm25", "embedding", "auto"] = "topic"
    k: int = 4


@dataclass
class EvalConfig:
    max_tokens: int = 256
    batch_size: int = 32
    threads: int | None = None
    teacher: bool = True  # also measure the teacher, plain and behavior-conditioned
    base: bool = True  # also measure the student's base before SFT (plain prompts)


@dataclass
class BehaviorSFTConfig(RecipeConfig):
    model: str = "warm_start"  # `warm_start` (see warm_start:) or a local model folder
    output_dir: str = "runs/behavior_sft"
    conditioning: Literal["behaviors", "none"] = "behaviors"
    threads: int | None = None  # torch's threads for this process (tiny models on a shared CPU run faster on 1)
    data: DataConfig = field(default_factory=DataConfig)
    warm_start: StudentWarmStartConfig = field(default_factory=StudentWarmStartConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    handbook: HandbookConfig = field(default_factory=HandbookConfig)
    lora: AdapterConfig = field(default_factory=AdapterConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    skip_eval: bool = False
