"""URPO against its two baselines on the tiny arithmetic testbed, same warm start, steps and batch size.

    python bench/urpo.py [key=value ...]   (overrides go to every run's config)

Runs `recipes/urpo.py` three times from the same cached warm start and seed:
- urpo: the policy is player and referee (mixed batches: verifiable, ranking, self-judged open-ended);
- frozen referee: the same mix, but a frozen copy of the start model scores the open-ended answers;
- verifier only: GRPO on the arithmetic problems alone, rewarded by the external verifier.
Prints one markdown table and checks two claims: the URPO referee's held-out ranking accuracy rises from
start to end, and URPO's held-out arithmetic pass@1 is not below the verifier-only run's. A failed claim
prints MISSED and the script exits 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "urpo": ["referee.mode=self"],
    "frozen referee": ["referee.mode=frozen"],
    "verifier only": ["mix.verifiable=1", "mix.ranking=0", "mix.open=0"],
}


def run(name: str, overrides: list[str]) -> tuple[dict, float]:
    out = ROOT / "runs" / "bench_urpo" / name.replace(" ", "_")
    command = [sys.executable, str(ROOT / "recipes" / "urpo.py"), "--config",
               str(ROOT / "recipes" / "configs" / "urpo_arithmetic.yaml"), f"output_dir={out}", *RUNS[name],
               *overrides]
    print(f"[{name}] {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads((out / "metrics.json").read_text()), time.perf_counter() - started


def main(overrides: list[str]) -> int:
    results = {name: run(name, overrides) for name in RUNS}
    first = next(iter(results.values()))[0]
    print(f"\nURPO bench: {first['train']['global_steps']} GRPO steps per run, held-out {first['end']['problems']} "
          f"arithmetic problems and {first['end']['pairs']} preference pairs, greedy\n")
    print("| run | arithmetic pass@1 start -> end | policy ranking acc. start -> end | scoring referee acc. "
          "(end) | unparsed rankings (end) | open answers on request start -> end | referee replies "
          "unparsed / read | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (metrics, seconds) in results.items():
        start, end, train = metrics["start"], metrics["end"], metrics["train"]
        scoring = "-" if name == "verifier only" else f"{end['scoring_referee_accuracy']:.1%}"
        print(f"| {name} | {start['pass_at_1']:.1%} -> {end['pass_at_1']:.1%} | {start['ranking_accuracy']:.1%} -> "
              f"{end['ranking_accuracy']:.1%} | {scoring} | {end['ranking_unparsed']}/{end['pairs']} | "
              f"{start['open_on_request']:.1%} -> {end['open_on_request']:.1%} | "
              f"{train['referee_unparsed_scores']} / {train['referee_replies']} | {seconds:.0f} |")
    urpo, baseline = results["urpo"][0], results["verifier only"][0]
    claims = [
        ("URPO referee's held-out ranking accuracy rises (start -> end)",
         urpo["end"]["ranking_accuracy"] > urpo["start"]["ranking_accuracy"],
         f"{urpo['start']['ranking_accuracy']:.1%} -> {urpo['end']['ranking_accuracy']:.1%}"),
        ("URPO's held-out pass@1 is not below the verifier-only GRPO run's",
         urpo["end"]["pass_at_1"] >= baseline["end"]["pass_at_1"],
         f"{urpo['end']['pass_at_1']:.1%} vs {baseline['end']['pass_at_1']:.1%}"),
    ]
    print()
    for claim, held, figures in claims:
        print(f"{'OK' if held else 'MISSED'}: {claim}: {figures}")
    return 0 if all(held for _, held, _ in claims) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
