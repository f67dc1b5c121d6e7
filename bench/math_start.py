"""Where the real model starts on the math tasks: zero-shot greedy accuracy per arithmetic level and on GSM8K.

    python bench/math_start.py [--model smollm2-135m] [--backend vllm] [--per-level 100] [--gsm8k 200]

The math recipes (OREAL, URPO, behavior SFT) can only show learning from a start that solves a task neither
almost never nor almost always. This prints the model's accuracy with 95% Wilson intervals on each level of
the shipped arithmetic benchmark (word problems and bare expressions) and on the first `--gsm8k` GSM8K test
problems, with each task's own prompt and greedy decoding (what `agentkit eval bench` does), and names the
levels where the start is between 10% and 90%.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "agentkit"
LEARNABLE = (0.10, 0.90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="a catalogue name, folder or hub name")
    parser.add_argument("--backend", default="vllm", choices=("vllm", "hf"))
    parser.add_argument("--per-level", type=int, default=100, help="test problems per arithmetic level")
    parser.add_argument("--gsm8k", type=int, default=200, help="GSM8K test problems (the first N)")
    args = parser.parse_args()
    if args.backend == "vllm":
        from agentkit.rollout.vllm_backend import cpu_environment

        os.environ.update(cpu_environment(CACHE, threads=f"0-{(os.cpu_count() or 1) - 1}"))
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")  # its workers' warnings would land in the page

    from agentkit.eval.agent import wilson_interval
    from agentkit.eval.bench_eval import generate_records, grade_records
    from agentkit.eval.tasks import get_task
    from agentkit.models import resolve_model
    from agentkit.rollout.backend import make_backend

    arithmetic = get_task("arithmetic")
    tasks = {  # one task per (style, level): the task's own grouping needs a level field in every record
        (f"arithmetic ({style})", str(level)): dataclasses.replace(
            arithmetic,
            data=dataclasses.replace(
                arithmetic.data,
                args={**arithmetic.data.args, "style": style, "levels": [level], "per_level": args.per_level},
            ),
        )
        for style in ("words", "expression")
        for level in arithmetic.data.args["levels"]
    }
    tasks["GSM8K test", "all"] = get_task("gsm8k")
    rows = []
    started = time.perf_counter()
    model = resolve_model(args.model, str(CACHE))
    with make_backend(args.backend, model) as backend, tempfile.TemporaryDirectory() as out:
        for (name, level), task in tasks.items():
            records = generate_records(task, backend, limit=args.gsm8k if name.startswith("GSM8K") else None)
            summary = grade_records(task, records, out)
            rows.append((name, level, summary["items"], summary["accuracy"]))
            print(f"{name} {level}: {summary['accuracy']:.1%} of {summary['items']}", file=sys.stderr, flush=True)
    minutes = (time.perf_counter() - started) / 60

    print(f"\n{args.model} zero-shot, greedy, {args.backend} backend, {minutes:.1f} min on {os.cpu_count()} cores\n")
    print("| task | level | problems | accuracy | 95% interval | learnable start |")
    print("|---|---|---|---|---|---|")
    for name, group, count, accuracy in rows:
        low, high = wilson_interval(round(accuracy * count), count)
        learnable = "yes" if LEARNABLE[0] <= accuracy <= LEARNABLE[1] else "no"
        print(f"| {name} | {group} | {count} | {accuracy:.1%} | {low:.1%}-{high:.1%} | {learnable} |")


if __name__ == "__main__":
    main()
