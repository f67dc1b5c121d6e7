"""Behavior cloning: supervised fine-tuning of a LoRA adapter on expert trajectories.

The loss covers only the agent's turns (their `loss` flags): observations are context, never targets.
Each trained decision is one sample whose prompt is exactly what the agent sees when it acts.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/bc.py \
        --config recipes/configs/bc_textworld.yaml [key=value ...]

Steps: (1) expert demonstrations on the training tasks, (2) SFT with TRL, resumable from the last
checkpoint, (3) held-out evaluation of the random policy, the base model and the adapter, (4) a run
folder: adapter, config, metrics.json, report.md and plots.

The method lives in `agentkit.methods.bc`; this script is its command line.
"""

from __future__ import annotations

import sys

from agentkit.config import parse_recipe_args, run_recipe
from agentkit.methods.bc.cloning import clone
from agentkit.methods.bc.config import BCConfig


def main(argv: list[str]) -> None:
    clone(parse_recipe_args(BCConfig, argv))


if __name__ == "__main__":
    sys.exit(run_recipe("bc", main, sys.argv[1:]))
