"""Agent GRPO and GiGPO on TextWorld from the same BC start, on SmolLM2-135M-Instruct, side by side.

    python bench/agent_grpo.py [--smoke] [--start-adapter DIR] [key=value ...]   (overrides go to both RL runs)

Runs `recipes/bc.py` (the quickstart's settings; skipped with --start-adapter), then `recipes/agent_grpo.py`
twice from its adapter with the same seed, tasks and number of episodes: episode-level GRPO and GiGPO (step
groups of identical states, omega 1, gamma 0.95). All three policies are evaluated on the same held-out
`test` games, writing their own replies (text), with 95% Wilson intervals. Prints one markdown table (success,
interval, training episodes, wall time, episodes/s of the rollouts) and checks the claims: GRPO >= the BC
start, and GiGPO >= GRPO (the paper: step-level credit helps at the same episode budget). Prints MISSED and
exits 1 when a claim fails. `--smoke` runs the same code at a tiny size (a few minutes) to check it end to end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from agentkit.benchmarks import success_result

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "agent_grpo_textworld_smollm2.yaml"
BC_CONFIG = "bc_textworld_smollm2.yaml"
# Both RL runs: 20 iterations x 8 games x G = 8 (1280 training episodes each), 50 held-out games.
FULL = {"bc": [], "rl": ["optim.iterations=20", "env.eval_kwargs.n_games=50"]}
SMOKE = {
    "bc": ["env.train_kwargs.n_games=8", "train.max_steps=4", "train.save_steps=4"],
    "rl": [
        "optim.iterations=2",
        "sampling.tasks_per_iteration=2",
        "sampling.episodes_per_task=2",
        "env.train_kwargs.n_games=8",
        "env.eval_kwargs.n_games=4",
        "env.kwargs.max_steps=8",
    ],
}


def run(recipe: str, config: str, out: Path, overrides: list[str]) -> tuple[dict, float]:
    command = [sys.executable, str(ROOT / "recipes" / recipe), "--config", str(ROOT / "recipes" / "configs" / config),
               f"output_dir={out}", "seed=0", *overrides]  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)  # a fresh run, never a resumed one
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads((out / "metrics.json").read_text()), time.perf_counter() - started


def main(argv: list[str]) -> int:
    smoke = "--smoke" in argv
    argv = [arg for arg in argv if arg != "--smoke"]
    start = None
    if argv[:1] == ["--start-adapter"]:
        start, argv = Path(argv[1]).resolve(), argv[2:]
    size = SMOKE if smoke else FULL
    out = ROOT / "runs" / ("bench_agent_grpo_smoke" if smoke else "bench_agent_grpo")
    if start is None:
        run("bc.py", BC_CONFIG, out / "bc", ["skip_eval=true", *size["bc"]])
        start = out / "bc" / "adapter"
    common = [f"start_adapter={start}", *size["rl"], *argv]
    grpo, grpo_seconds = run("agent_grpo.py", CONFIG, out / "grpo", ["advantage.estimator=grpo", *common])
    gigpo, gigpo_seconds = run(
        "agent_grpo.py", CONFIG, out / "gigpo", ["advantage.estimator=gigpo", "include_start=false", *common]
    )
    rows = {"BC start": grpo["eval"]["start"], "GRPO": grpo["eval"]["agent_grpo"], "GiGPO": gigpo["eval"]["agent_grpo"]}
    runs = {"GRPO": (grpo, grpo_seconds), "GiGPO": (gigpo, gigpo_seconds)}
    print(f"\nFrom {start}, {CONFIG} with {' '.join(common)}\n")
    print("| agent | held-out episodes | success | 95% interval | training episodes | wall time | rollout episodes/s |")
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        trained = "- | - | -"
        if name in runs:
            metrics, seconds = runs[name]
            episodes = sum(r["episodes"] for r in metrics["train"])
            speed = episodes / sum(r["rollout_seconds"] for r in metrics["train"])
            trained = f"{episodes} | {seconds / 60:.1f} min | {speed:.2f}"
        interval = f"{row['success_low']:.1%}-{row['success_high']:.1%}"
        print(f"| {name} | {row['episodes']} | {row['success_rate']:.1%} | {interval} | {trained} |")
    checks = [  # (method, baseline name, claim)
        ("GRPO", "BC start", "GRPO >= the BC start on held-out games"),
        ("GiGPO", "GRPO", "GiGPO >= GRPO at the same number of episodes"),
    ]
    verdicts = {}
    for method, baseline, claim in checks:
        met = rows[method]["success_rate"] >= rows[baseline]["success_rate"]
        verdicts[claim] = met
        print(success_result(method, "TextWorld test", baseline, rows[baseline], rows[method], claim, met))
    for claim, held in verdicts.items():
        print(f"{'ok' if held else 'MISSED'}: {claim}")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
