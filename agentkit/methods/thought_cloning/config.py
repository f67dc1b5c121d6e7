"""Thought cloning's config: behavior cloning's, with thoughts in the prompt and their loss weight."""

from __future__ import annotations

from dataclasses import dataclass, field

from agentkit.methods.bc.config import BCConfig
from agentkit.prompts import PromptFormat


@dataclass
class ThoughtCloningConfig(BCConfig):
    output_dir: str = "runs/thought_cloning"
    prompt: PromptFormat = field(default_factory=lambda: PromptFormat(thoughts=True))
    thought_weight: float = 2.0  # w in loss = action NLL + w * thought NLL

    def __post_init__(self) -> None:
        super().__post_init__()  # behavior cloning's checks hold here too (e.g. demo_noise)
        if not self.prompt.thoughts:
            raise ValueError("prompt.thoughts=false: thought cloning trains on thoughts, set prompt.thoughts=true")
        if self.thought_weight < 0:
            raise ValueError(f"thought_weight={self.thought_weight} must be >= 0")
