"""A small real SFT run for the checkpoint tests, as its own process so that it can be SIGKILLed:

    python tests/sft_run.py MODEL DEMOS RUN_DIR [PAUSE_STEP]

It trains the tiny model on the demos with checkpoints every 2 steps and writes `RUN_DIR/result.json`.
With PAUSE_STEP it prints `mid-checkpoint` once checkpoint-PAUSE_STEP holds its weights and optimizer but
not yet its RNG and trainer state, and waits there to be killed: a kill in the middle of a checkpoint write.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

TRAIN = {"learning_rate": 0.01, "max_steps": 8, "batch_size": 2, "logging_steps": 1, "save_steps": 2, "seed": 0}
LORA = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}


def pause_in_checkpoint(step: int) -> None:
    from transformers import Trainer

    save = Trainer._save_optimizer_and_scheduler

    def save_then_wait(self, output_dir: str) -> None:
        save(self, output_dir)
        if Path(output_dir).name == f"checkpoint-{step}":
            print("mid-checkpoint", flush=True)
            time.sleep(600)

    Trainer._save_optimizer_and_scheduler = save_then_wait


def main(argv: list[str]) -> None:
    model, demos, run_dir = argv[0], Path(argv[1]), Path(argv[2])
    if len(argv) > 3:
        pause_in_checkpoint(int(argv[3]))
    from agentkit.prompts import PromptFormat
    from agentkit.training.sft import AdapterConfig, TrainConfig, train_on_episodes
    from agentkit.trajectory import read_episodes

    episodes, _ = read_episodes(demos)
    result = train_on_episodes(model, episodes, PromptFormat(), AdapterConfig(**LORA), TrainConfig(**TRAIN),
                               run_dir, run_dir / "adapter", cpu=True)  # fmt: skip
    (run_dir / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
