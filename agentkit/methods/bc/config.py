"""Behavior cloning's config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agentkit.agent_settings import EnvConfig, EvalConfig
from agentkit.demo_base import DemoBaseConfig
from agentkit.policies import check_noise
from agentkit.prompts import PromptFormat
from agentkit.training.run import RecipeConfig
from agentkit.training.sft import AdapterConfig, TrainConfig


@dataclass
class BCConfig(RecipeConfig):
    # A local path or hub name; `preset:tiny|small` (random init, built locally); `warm_start` (the demo
    # base: pretrained on random play in this env, built locally with `demo_base`, cached by content).
    model: str = "warm_start"
    output_dir: str = "runs/bc"
    demos: str | None = None  # an existing trajectory file; else expert demos are collected
    demos_per_task: int = 1
    # Share of expert demo steps replaced by a random other command, not trained on (DART): the expert's
    # next decisions then label states off its own path. With it, demos_per_task > 1 adds different episodes.
    demo_noise: float = 0.0
    env: EnvConfig = field(default_factory=EnvConfig)
    demo_base: DemoBaseConfig = field(default_factory=DemoBaseConfig)
    prompt: PromptFormat = field(default_factory=PromptFormat)
    lora: AdapterConfig = field(default_factory=AdapterConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    skip_eval: bool = False

    def __post_init__(self) -> None:
        check_noise(self.demo_noise, "demo_noise")
        if self.demos is not None and not Path(self.demos).is_file():
            raise ValueError(f"demos={self.demos!r} is not a file")
