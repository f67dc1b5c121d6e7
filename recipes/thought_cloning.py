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
so BC and TC runs of one config differ only in the thoughts (`agentkit.methods.bc.cloning.clone`).
"""

from __future__ import annotations

import sys

from agentkit.config import parse_recipe_args, run_recipe
from agentkit.methods.bc.cloning import clone
from agentkit.methods.thought_cloning.config import ThoughtCloningConfig


def main(argv: list[str]) -> None:
    config = parse_recipe_args(ThoughtCloningConfig, argv)
    clone(config, title="Thought cloning", label="tc", thought_weight=config.thought_weight)


if __name__ == "__main__":
    sys.exit(run_recipe("thought_cloning", main, sys.argv[1:]))
