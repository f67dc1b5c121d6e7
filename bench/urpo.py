"""URPO against its two baselines on the tiny arithmetic testbed, same warm start, steps and batch size.

    python bench/urpo.py [key=value ...]   (overrides go to every run's config)
    python bench/urpo.py --seeds 0,1,2 [key=value ...]   (each seed: its own warm start, problems and pairs;
                                                       the claims are checked on the mean over the seeds)
    python bench/urpo.py [--seeds ...] --table-only      (the table and claims of the runs already made)

Runs `recipes/urpo.py` three times from the same cached warm start and seed:
- urpo: the policy is player and referee (mixed batches: verifiable, ranking, self-judged open-ended);
- frozen referee: the same mix, but a frozen copy of the start model scores the open-ended answers;
- verifier only: GRPO on the arithmetic problems alone, rewarded by the external verifier.
Prints one markdown table and checks three claims: the URPO referee's held-out ranking accuracy rises from
start to end, and URPO's held-out arithmetic pass@1 is not below the verifier-only run's, and the end
referee beats naming one fixed letter every time (a collapsed referee's accuracy also rises once its
replies parse). A failed claim prints MISSED and the script exits 1.

Last measured (`python bench/urpo.py --seeds 0,1,2 threads=1`, 200 GRPO steps, 200 held-out problems and
pairs per seed, ~5 min a run on one core), mean over the three seeds: the URPO referee 52.3% -> 54.8%, above
naming one fixed letter (53.3%); pass@1 77.5% -> 78.2% against the verifier-only run's 77.8%; frozen referee
52.3% -> 52.5%, pass@1 78.2%. All three claims hold on the mean and all lie inside sampling noise; per seed
the referee rises on each (51.5 -> 53.5, 54.0 -> 58.5, 51.5 -> 52.5) and the pass@1 claim misses on seed 0
(89.0% vs 90.0%). The referee also names the same letter first more often by the end (mean 67% -> 88%), so
part of its rise is a letter bias: its audit line's right/wrong mark matches the two numbers it compares only
~49% of the time on held-out pairs (the tiny model has not learnt to compare).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from agentkit.benchmarks import result_line, split_seeds

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "urpo": ["referee.mode=self"],
    "frozen referee": ["referee.mode=frozen"],
    "verifier only": ["mix.verifiable=1", "mix.ranking=0", "mix.open=0"],
}


def folder(name: str, seed: int) -> Path:
    return ROOT / "runs" / "bench_urpo" / f"seed{seed}" / name.replace(" ", "_")


def run(name: str, seed: int, overrides: list[str]) -> dict:
    out = folder(name, seed)
    command = [sys.executable, str(ROOT / "recipes" / "urpo.py"), "--config",
               str(ROOT / "recipes" / "configs" / "urpo_arithmetic.yaml"), f"output_dir={out}", *RUNS[name],
               f"seed={seed}", *overrides]
    print(f"[{name}, seed {seed}] {' '.join(command[1:])}", file=sys.stderr, flush=True)
    shutil.rmtree(out, ignore_errors=True)  # a fresh run each time, never a resumed one
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads((out / "metrics.json").read_text())


def rate(value: float, total: int) -> str:
    """A held-out rate with its 95% Wilson interval, so a change can be read against sampling noise."""
    from agentkit.eval.agent import wilson_interval

    low, high = wilson_interval(round(value * total), total)
    return f"{value:.1%} ({low:.0%}-{high:.0%})"


def overlap(a: float, b: float, total: int) -> bool:
    from agentkit.eval.agent import wilson_interval

    (a_low, a_high), (b_low, b_high) = (wilson_interval(round(v * total), total) for v in (a, b))
    return a_low <= b_high and b_low <= a_high


def print_table(seed: int, results: dict[str, dict]) -> None:
    first = results["urpo"]
    problems, pairs = first["end"]["problems"], first["end"]["pairs"]
    print(f"\nURPO bench, seed {seed}: {first['train']['global_steps']} GRPO steps per run, held-out {problems} "
          f"arithmetic problems and {pairs} preference pairs, each ranked in both orders, greedy; 95% Wilson "
          "intervals (over pairs) in brackets\n")
    print("| run | arithmetic pass@1 start -> end | policy ranking acc. start -> end | among parsed rankings "
          "start -> end | unparsed rankings start -> end | same first letter start -> end | "
          "scoring referee acc. (end) | open answers on request "
          "start -> end | referee replies unparsed / read | training seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, metrics in results.items():
        start, end, train = metrics["start"], metrics["end"], metrics["train"]
        scoring = "-" if name == "verifier only" else f"{end['scoring_referee_accuracy']:.1%}"
        print(f"| {name} | {start['pass_at_1']:.1%} -> {rate(end['pass_at_1'], problems)} | "
              f"{start['ranking_accuracy']:.1%} -> {rate(end['ranking_accuracy'], pairs)} | "
              f"{start['ranking_parsed_accuracy']:.1%} -> {end['ranking_parsed_accuracy']:.1%} | "
              f"{start['ranking_unparsed']} -> {end['ranking_unparsed']} of {end['rankings']} | "
              f"{start['ranking_same_choice']:.0%} -> {end['ranking_same_choice']:.0%} | {scoring} | "
              f"{start['open_on_request']:.1%} -> {end['open_on_request']:.1%} | "
              f"{train['referee_unparsed_scores']} / {train['referee_replies']} | {train['train_seconds']:.0f} |")


def main(argv: list[str]) -> int:
    table_only = "--table-only" in argv  # the table and claims of the runs already in runs/bench_urpo
    argv = [a for a in argv if a != "--table-only"]
    seeds, argv = split_seeds(argv)
    per_seed = {
        seed: {
            name: json.loads((folder(name, seed) / "metrics.json").read_text()) if table_only else run(name, seed, argv)
            for name in RUNS
        }
        for seed in seeds
    }
    for seed, results in per_seed.items():
        print_table(seed, results)

    def mean(run_name: str, phase: str, key: str) -> float:
        return sum(results[run_name][phase][key] for results in per_seed.values()) / len(seeds)

    # sampling noise of a mean over seeds: the pooled count over every seed's held-out set
    problems = sum(results["urpo"]["end"]["problems"] for results in per_seed.values())
    pairs = sum(results["urpo"]["end"]["pairs"] for results in per_seed.values())
    ranking = mean("urpo", "start", "ranking_accuracy"), mean("urpo", "end", "ranking_accuracy")
    passes = mean("urpo", "end", "pass_at_1"), mean("verifier only", "end", "pass_at_1")
    constant = mean("urpo", "end", "ranking_constant_accuracy")
    of = f"mean over seeds {','.join(map(str, seeds))}: " if len(seeds) > 1 else ""
    if len(seeds) > 1:
        print(f"\n| mean over seeds {', '.join(map(str, seeds))} | pass@1 start -> end | referee acc. start -> end "
              "| same first letter (end) |")
        print("|---|---|---|---|")
        for name in RUNS:
            print(f"| {name} | {mean(name, 'start', 'pass_at_1'):.1%} -> {mean(name, 'end', 'pass_at_1'):.1%} | "
                  f"{mean(name, 'start', 'ranking_accuracy'):.1%} -> {mean(name, 'end', 'ranking_accuracy'):.1%} | "
                  f"{mean(name, 'end', 'ranking_same_choice'):.0%} |")
    claims = [
        ("URPO referee's held-out ranking accuracy rises (start -> end)", ranking[1] > ranking[0],
         f"{of}{ranking[0]:.1%} -> {ranking[1]:.1%}", overlap(*ranking, pairs)),
        ("URPO's held-out pass@1 is not below the verifier-only GRPO run's", passes[0] >= passes[1],
         f"{of}{passes[0]:.1%} vs {passes[1]:.1%}", overlap(*passes, problems)),
        # a referee that names the same letter whatever it reads also "rises" once its replies parse
        ("URPO's end referee beats naming one fixed letter every time", ranking[1] > constant,
         f"{of}{ranking[1]:.1%} vs {constant:.1%}", overlap(ranking[1], constant, pairs)),
    ]
    print()
    print(result_line("RESULT", method="URPO", task=f"arithmetic preference pairs ({pairs} held-out)",
                      metric="referee ranking accuracy", baseline_name="start", baseline=ranking[0],
                      result=ranking[1], seeds=seeds))
    print(result_line("RESULT", method="URPO", task=f"arithmetic ({problems} held-out problems)",
                      metric="pass@1", baseline_name="verifier-only GRPO", baseline=passes[1],
                      result=passes[0], seeds=seeds))
    print()
    for claim, held, figures, within_noise in claims:
        noise = " (the 95% intervals overlap: within sampling noise)" if within_noise else ""
        print(f"{'OK' if held else 'MISSED'}: {claim}: {figures}{noise}")
    return 0 if all(held for _, held, _, _ in claims) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
