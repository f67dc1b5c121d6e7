"""Behavior cloning's config."""

from __future__ import annotations

from dataclasses import dataclass, field

from agentkit.agent_settings import EnvSettings, EvalSettings
from agentkit.demo_base import DemoBaseSettings
from agentkit.policies import check_noise
from agentkit.prompts import PromptFormat
from agentkit.training.run import RecipeConfig
from agentkit.training.sft import LoraSettings, TrainSettings


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
    env: EnvSettings = field(default_factory=EnvSettings)
    demo_base: DemoBaseSettings = field(default_factory=DemoBaseSettings)
    prompt: PromptFormat = field(default_factory=PromptFormat)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    skip_eval: bool = False

    def __post_init__(self) -> None:
        check_noise(self.demo_noise, "demo_noise")
