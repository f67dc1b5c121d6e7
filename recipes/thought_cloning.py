"""Thought cloning (Hu & Clune 2023): clone the expert's reasoning along with its actions.

Each agent turn is `Thought: <plan in words>` then `Action: <command>`. The thoughts come from the
expert's own procedure (TextWorld: the objective's sentence for the quest's current sub-goal, or the
commands left; entity deduction: how many candidates fit and how the question splits them) or from a
teacher model's trajectories given as `demos`. The loss is action NLL + `thought_weight` x thought NLL (the
paper: 2), so thought and action tokens carry separate weights. At inference the agent writes the thought,
or chooses it among those the env offers (the objective's sentences; in order with
`prompt.thoughts_in_order`), then the action; the thought is kept in the trajectory. With
`prompt.past_thoughts: false` the prompt shows earlier replies as their commands alone, BC's very prompt, so
the model finds its place from what it did and saw rather than by copying its last thought.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/thought_cloning.py \\
        --config recipes/configs/thought_cloning_textworld.yaml [key=value ...]

Everything else (demos, resumable SFT, held-out evaluation, run folder) is the behavior cloning recipe's,
so BC and TC runs of one config differ only in the thoughts.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from bc import BCConfig, run

from agentkit.config import parse_recipe_args, run_recipe
from agentkit.prompts import PromptFormat


@dataclass
class ThoughtCloningConfig(BCConfig):
    output_dir: str = "runs/thought_cloning"
    prompt: PromptFormat = field(default_factory=lambda: PromptFormat(thoughts=True))
    thought_weight: float = 2.0  # w in loss = action NLL + w * thought NLL

    def __post_init__(self) -> None:
        if not self.prompt.thoughts:
            raise ValueError("prompt.thoughts=false: thought cloning trains on thoughts, set prompt.thoughts=true")
        if self.thought_weight < 0:
            raise ValueError(f"thought_weight={self.thought_weight} must be >= 0")


def main(argv: list[str]) -> None:
    config = parse_recipe_args(ThoughtCloningConfig, argv)
    run(config, title="Thought cloning", label="tc", thought_weight=config.thought_weight)


if __name__ == "__main__":
    sys.exit(run_recipe("thought_cloning", main, sys.argv[1:]))
