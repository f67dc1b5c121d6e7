"""Behavior cloning on textcraft through the unchanged BC recipe: success before and after, side by side.

    python bench/bc_textcraft.py [key=value ...]   (overrides go to the recipe's config)

Runs `recipes/bc.py` with `recipes/configs/bc_textcraft.yaml` and prints the held-out table of the random
policy, the base model (before) and the BC adapter (after), from the run's metrics.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(overrides: list[str]) -> None:
    out = ROOT / "runs" / "bench_bc_textcraft"
    command = [sys.executable, str(ROOT / "recipes" / "bc.py"), "--config",
               str(ROOT / "recipes" / "configs" / "bc_textcraft.yaml"), f"output_dir={out}", *overrides]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    metrics = json.loads((out / "metrics.json").read_text())
    train = metrics["train"]
    print(f"\nBC on textcraft: {train['demos_used']} planner demos, {train['decisions']} decisions, "
          f"{train['global_steps']} steps, final loss {train['train_loss']:.3f}, whole run {seconds:.0f} s\n")
    print("| agent | held-out episodes | success | 95% interval | invalid actions | repeated actions |")
    print("|---|---|---|---|---|---|")
    for name, row in metrics["eval"].items():
        print(f"| {name} | {row['episodes']} | {row['success_rate']:.1%} | "
              f"{row['success_low']:.1%}-{row['success_high']:.1%} | {row['invalid_action_rate']:.1%} | "
              f"{row['repeated_action_rate']:.1%} |")


if __name__ == "__main__":
    main(sys.argv[1:])
