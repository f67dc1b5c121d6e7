"""Bench: behavior-conditioned SFT vs vanilla SFT on the arithmetic benchmark (Metacognitive Reuse's third
claim, at tiny scale with the scripted teacher), and behavior-conditioned vs plain inference.

    python bench/behavior_sft.py [key=value ...]   # overrides go to both recipe runs

Runs `recipes/behavior_sft.py` twice with one config and seed: `conditioning=none` (vanilla SFT: the
student learns the scripted teacher's full traces) and `conditioning=behaviors` (the teacher wrote its
traces with the handbook's behaviors in its prompt; the student is trained without them). Both students
start from the same warm start and are graded on the same held-out problems. The claim holds when the
behavior-conditioned student is at least as accurate as the vanilla one (and solves at least MIN_ACCURACY
of the problems, so that 0 >= 0 does not count) with at least TOKEN_MARGIN fewer completion tokens;
otherwise the bench prints MISSED and exits non-zero.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from agentkit.benchmarks import result_line, run_seed

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "recipes" / "configs" / "behavior_sft_arithmetic.yaml"
OUT = ROOT / "runs" / "bench_behavior_sft"
TOKEN_MARGIN = 0.25  # the behavior-conditioned student's completions must be at least 25% shorter
MIN_ACCURACY = 0.2
RUNS = {"vanilla SFT (full traces)": "none", "behavior-conditioned SFT": "behaviors"}


def run(conditioning: str, overrides: list[str]) -> dict:
    out = OUT / conditioning
    command = [sys.executable, str(ROOT / "recipes" / "behavior_sft.py"), "--config", str(CONFIG),
               f"output_dir={out}", f"conditioning={conditioning}", *overrides]
    print(f"running: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    shutil.rmtree(out, ignore_errors=True)  # a fresh run, never a resumed one
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads((out / "metrics.json").read_text())


def main(overrides: list[str]) -> int:
    metrics = {name: run(conditioning, overrides) for name, conditioning in RUNS.items()}
    vanilla, conditioned = (metrics[name]["eval"]["student/plain"] for name in RUNS)
    print("\n## Student SFT, plain prompts, held-out problems\n")
    print("| student | n | accuracy | mean completion tokens | SFT trace tokens (mean) |")
    print("| --- | --- | --- | --- | --- |")
    base = metrics[next(iter(RUNS))]["eval"].get("base/plain")
    if base:
        print(f"| warm start, no SFT (reference-solution format) | {base['n']} | {base['accuracy']:.3f} "
              f"| {base['mean_completion_tokens']:.1f} | - |")
    for name, m in metrics.items():
        r = m["eval"]["student/plain"]
        print(f"| {name} | {r['n']} | {r['accuracy']:.3f} | {r['mean_completion_tokens']:.1f} "
              f"| {m['train']['mean_trace_tokens']:.1f} |")
    print("\n## Behavior-conditioned inference vs plain inference, same model\n")
    print("| model | prompt | accuracy | mean completion tokens |")
    print("| --- | --- | --- | --- |")
    teacher = metrics[next(iter(RUNS))]["eval"]
    rows = [("scripted teacher", teacher, "teacher")] + [(f"student: {n}", m["eval"], "student")
                                                          for n, m in metrics.items()]
    for label, results, who in rows:
        for prompt in ("plain", "behaviors"):
            r = results.get(f"{who}/{prompt}")
            if r:
                print(f"| {label} | {prompt} | {r['accuracy']:.3f} | {r['mean_completion_tokens']:.1f} |")
    levels = sorted(vanilla["accuracy_by_level"])
    print("\n## Accuracy by level (plain prompts)\n")
    print("| student | " + " | ".join(f"level {lv}" for lv in levels) + " |")
    print("| --- |" + " --- |" * len(levels))
    for name, m in metrics.items():
        by_level = m["eval"]["student/plain"]["accuracy_by_level"]
        print(f"| {name} | " + " | ".join(f"{by_level[lv]:.2f}" for lv in levels) + " |")
    seeds = [run_seed(OUT / RUNS["behavior-conditioned SFT"])]
    task = f"arithmetic ({vanilla['n']} held-out problems)"
    print()
    for metric, key in (("accuracy", "accuracy"), ("mean completion tokens", "mean_completion_tokens")):
        print(result_line("RESULT", method="behavior-conditioned SFT", task=task, metric=metric,
                          baseline_name="vanilla SFT", baseline=vanilla[key], result=conditioned[key],
                          seeds=seeds))
    saving = 1 - conditioned["mean_completion_tokens"] / vanilla["mean_completion_tokens"]
    holds = (conditioned["accuracy"] >= vanilla["accuracy"] and conditioned["accuracy"] >= MIN_ACCURACY
             and saving >= TOKEN_MARGIN)
    verdict = "MET" if holds else "MISSED"
    print(f"\n{verdict}: behavior-conditioned SFT accuracy {conditioned['accuracy']:.3f} vs vanilla "
          f"{vanilla['accuracy']:.3f} (needs >= vanilla and >= {MIN_ACCURACY}), completion tokens "
          f"{saving:.0%} fewer (needs >= {TOKEN_MARGIN:.0%})")
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
