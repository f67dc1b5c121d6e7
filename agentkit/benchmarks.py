"""`agentkit bench`: run the bench scripts, collect their figures, write the results page and the README table.

Each script in `bench/` prints a markdown table of figures measured side by side in one run (the machine is
shared and noisy, so every figure that matters is a ratio of two things timed together) and, for the
headline figures, one machine-readable line each:

    RESULT {"method": "BC", "task": "textworld test", "metric": "success", "baseline_name": "base model",
            "baseline": 0.05, "result": 0.7, "seeds": [0]}
    SPEED {"measure": "rollout: vLLM batched / sequential", "ratio": 7.05, "goal": 2.0}

The runner keeps going when a script fails or misses its claim (it records the status) and rewrites the
page after every script, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from agentkit.errors import AgentkitError

README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"


class BenchError(AgentkitError, ValueError):
    """An unknown bench name, or no bench/ folder to run from."""


SUITES = {
    "quick": "env speed and the engine's speed ratios on tiny models, sized to finish within 30 minutes on 2 cores",
    "claims": "the recipes' claims on SmolLM2-135M-Instruct with LoRA: the figures the README reports",
    "speed": "rollout, scoring, training and the machine's limits on SmolLM2-135M-Instruct",
    "toy": "the recipes' claims on the 1M-parameter demo models: fast smoke runs of the learning code",
    "rl": "online RL over TextWorld episodes on SmolLM2 (agent GRPO against GiGPO): many hours on 2 cores",
}


@dataclass(frozen=True)
class Bench:
    script: str
    suite: str  # a key of SUITES
    args: tuple[str, ...] = ()
    timeout: float = 1800.0
    about: str = ""


# The arguments size each run from a fresh clone on 2 cores (games, warm starts and demo bases built on the
# way); the scripts' own defaults are the larger runs.
BENCHES: dict[str, Bench] = {
    "quickstart": Bench(
        "quickstart.py",
        "claims",
        timeout=3600,
        about="make quickstart from an empty cache: BC LoRA on SmolLM2-135M against random play and zero-shot",
    ),
    "textworld_smollm2": Bench(
        "bc_textworld.py",
        "claims",
        timeout=3 * 3600,
        about="BC and thought cloning LoRA on SmolLM2 on held-out TextWorld games, against random and zero-shot",
    ),
    "agent_grpo": Bench(
        "agent_grpo.py",
        "rl",
        timeout=6 * 3600,
        about="agent GRPO and GiGPO from the quickstart's BC adapter on SmolLM2, held-out TextWorld, same episodes",
    ),
    "math_start": Bench(
        "math_start.py",
        "claims",
        timeout=3600,
        about="SmolLM2 zero-shot on each arithmetic level and GSM8K: where the math recipes can start",
    ),
    "admissible": Bench(
        "admissible.py",
        "speed",
        ("--games", "8"),
        timeout=2400,
        about="admissible-command evaluation on SmolLM2: the old scorer against batched HF and vLLM, same choices",
    ),
    "rollout_smollm2": Bench(
        "rollout.py",
        "speed",
        timeout=3600,
        about="rollout engine on SmolLM2: vLLM against HF, batched against sequential, prompt layouts",
    ),
    "textworld_env": Bench(
        "textworld_env.py",
        "quick",
        ("--games", "10", "--speed-games", "5", "--repeats", "3"),
        about="TextWorld expert/random success and env steps/s against raw TextWorld",
    ),
    "textcraft_env": Bench(
        "textcraft.py",
        "quick",
        ("--random-seeds", "3"),
        timeout=600,
        about="TextCraft expert/random success per crafting depth and env steps/s",
    ),
    "entity_deduction_env": Bench(
        "entity_deduction.py",
        "quick",
        ("--seeds", "3"),
        timeout=600,
        about="entity deduction expert/random wins and questions per game on the test lists",
    ),
    "rollout": Bench(
        "rollout.py",
        "quick",
        ("--preset", "tiny", "--episodes", "8", "--envs", "8"),
        about="rollout engine on a random-init tiny model: batched vs sequential, vLLM vs HF",
    ),
    "sft_padding": Bench(
        "sft_padding.py",
        "quick",
        ("--steps", "8", "--rounds", "2"),
        about="trajectory SFT tokens/s: padding-free vs padded, bf16 vs fp32, peak RSS, MFU",
    ),
    "sft_padding_smollm2": Bench(
        "sft_padding.py",
        "speed",
        ("--model", "smollm2-135m", "--layers", "8", "--steps", "4", "--rounds", "1", "--threads", "2"),
        about="LoRA SFT on SmolLM2 tokens/s: padding-free vs padded, bf16 vs fp32, peak RSS, MFU",
    ),
    "limits": Bench(
        "limits.py",
        "speed",
        ("--tokens", "512"),
        timeout=900,
        about="prompt pass, decoding and LoRA step on SmolLM2 in fp32 and bf16, as shares of the matmul peak",
    ),
    "bc_textworld": Bench(
        "bc_textworld.py",
        "toy",
        (
            "--toy",
            "env.train_kwargs.n_games=40",
            "env.eval_kwargs.n_games=20",
            "env.extra_evals={test_hard: {split: test_hard, n_games: 20}}",
        ),
        timeout=1500,
        about="BC and thought cloning on TextWorld held-out games",
    ),
    "agent_r": Bench(
        "agent_r.py",
        "toy",
        timeout=9000,
        about="Agent-R rounds on TextWorld against BC on 150 demos (builds the 1200-game demo base once)",
    ),
    "oreal": Bench(
        "oreal.py",
        "toy",
        ("--seeds", "0,1,2", "optim.steps=20", "eval.per_level=60"),
        timeout=2700,
        about="OREAL ablation on arithmetic, claims on the mean of three seeds",
    ),
    "urpo": Bench(
        "urpo.py",
        "toy",
        ("grpo.steps=100", "data.eval_per_level=100", "data.eval_pairs_per_level=100"),
        timeout=1800,
        about="URPO against frozen referee and verifier-only GRPO",
    ),
    "behavior_sft": Bench("behavior_sft.py", "toy", timeout=1200, about="behavior-conditioned SFT against vanilla SFT"),
}


def result_line(kind: str, **fields: Any) -> str:
    """The line a bench script prints for the runner: `RESULT {...}` or `SPEED {...}`."""
    if kind not in ("RESULT", "SPEED"):
        raise ValueError(f"kind={kind!r} must be RESULT or SPEED")
    return f"{kind} {json.dumps(fields, sort_keys=True)}"


def success_result(
    method: str, task: str, baseline_name: str, baseline: dict, result: dict, claim: str, met: bool
) -> str:
    """The RESULT line of an agent's held-out success rate against a baseline's on the same items, each with
    its 95% interval (evaluation rows: `success_rate`, `success_low`, `success_high`), and the row's claim;
    one run, seed 0."""
    return result_line(
        "RESULT",
        method=method,
        task=task,
        metric="success",
        baseline_name=baseline_name,
        baseline=baseline["success_rate"],
        baseline_interval=[baseline["success_low"], baseline["success_high"]],
        result=result["success_rate"],
        result_interval=[result["success_low"], result["success_high"]],
        seeds=[0],
        claim=claim,
        met=met,
    )


def split_seeds(argv: list[str]) -> tuple[list[int], list[str]]:
    """A bench's leading `--seeds 0,1,2` (its claims are then on the mean over the seeds) and the rest of
    its arguments; seed 0 alone without it. A `seed=N` override is refused: each run's seed and folder
    come from the list, and an override would train every run on one seed under another's name."""
    given = [arg for arg in argv if arg.startswith("seed=")]
    if given:
        raise BenchError(f"{given[0]!r}: give the seeds as a leading --seeds list (e.g. --seeds {given[0][5:]})")
    if argv[:1] != ["--seeds"]:
        return [0], argv
    if len(argv) < 2:
        raise BenchError("--seeds needs a comma-separated list, e.g. --seeds 0,1,2")
    try:
        return [int(s) for s in argv[1].split(",")], argv[2:]
    except ValueError:
        raise BenchError(f"--seeds {argv[1]!r} is not a comma-separated list of integers") from None


def run_seed(run_dir: Path) -> int:
    """The seed a recipe run used, read from the config it saved, for a RESULT line's `seeds`."""
    import yaml

    return yaml.safe_load((Path(run_dir) / "config.yaml").read_text())["seed"]


@dataclass
class BenchRun:
    name: str
    status: str  # "ok", "missed" (exit 1: a claim failed), "failed", "timeout"
    seconds: float
    output: str
    results: list[dict[str, Any]] = field(default_factory=list)
    speeds: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "seconds": self.seconds, "output": self.output,
                "results": self.results, "speeds": self.speeds}  # fmt: skip


def parse_output(text: str) -> tuple[list[dict], list[dict]]:
    """The RESULT and SPEED lines of a script's output (malformed ones are skipped)."""
    found: dict[str, list[dict]] = {"RESULT": [], "SPEED": []}
    for line in text.splitlines():
        kind, _, payload = line.strip().partition(" ")
        if kind in found:
            try:
                found[kind].append(json.loads(payload))
            except json.JSONDecodeError:
                continue
    return found["RESULT"], found["SPEED"]


def bench_folder(start: Path | None = None) -> Path:
    """The `bench/` folder of the source checkout (benches are scripts, not installed with the package)."""
    candidates = [(start or Path.cwd()) / "bench", Path(__file__).resolve().parents[1] / "bench"]
    for folder in candidates:
        if (folder / "rollout.py").is_file():
            return folder
    raise BenchError("no bench/ folder here: run `agentkit bench` from a checkout of the agentkit repository")


def _unknown(name: str) -> BenchError:
    return BenchError(f"unknown bench {name!r}; suites: {', '.join(SUITES)}; benches: {', '.join(BENCHES)}")


def run_bench(name: str, folder: Path, extra: list[str] | None = None) -> BenchRun:
    if name not in BENCHES:
        raise _unknown(name)
    bench = BENCHES[name]
    command = [sys.executable, str(folder / bench.script), *bench.args, *(extra or [])]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=bench.timeout, cwd=folder.parent)
        output, code = done.stdout, done.returncode
        status = {0: "ok", 1: "missed"}.get(code, "failed")
        if status == "failed":
            output += f"\n(exit {code})\n" + done.stderr[-3000:]
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        status = "timeout"
    results, speeds = parse_output(output)
    return BenchRun(name, status, time.perf_counter() - started, output, results, speeds)


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _with_interval(row: dict[str, Any], key: str) -> str:
    interval = row.get(f"{key}_interval")
    return _fmt(row[key]) + ("" if interval is None else f" ({_fmt(interval[0])}-{_fmt(interval[1])})")


def learning_table(runs: list[BenchRun]) -> str:
    """One row per RESULT line; values with their 95% intervals where the line gives them; the claim is the
    row's own (`claim`, `met`) where given, else the bench's status."""
    lines = [
        "| method | task | metric | baseline (95% interval) | result (95% interval) | delta | seeds | claim "
        "| wall time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        status = {"ok": "met", "missed": "MISSED"}.get(run.status, run.status)
        for row in run.results:
            delta = row["result"] - row["baseline"]
            claim = f"{'met' if row['met'] else 'MISSED'}: {row['claim']}" if "met" in row else status
            lines.append(
                f"| {row['method']} | {row['task']} | {row['metric']} | {row['baseline_name']}: "
                f"{_with_interval(row, 'baseline')} | {_with_interval(row, 'result')} | {delta:+.3g} | "
                f"{', '.join(map(str, row.get('seeds', [])))} | {claim} | {run.seconds / 60:.1f} min |"
            )
    return "\n".join(lines)


def speed_table(runs: list[BenchRun]) -> str:
    lines = ["| measure | ratio | goal |", "|---|---|---|"]
    for run in runs:
        for row in run.speeds:
            goal = row.get("goal")
            lines.append(f"| {row['measure']} | {row['ratio']:.2f}x | {'' if goal is None else f'>= {goal}x'} |")
    return "\n".join(lines)


def _plot(runs: list[BenchRun], path: Path) -> bool:
    rows = [row for run in runs for row in run.results]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{row['method']}\n{row['metric']}" for row in rows]
    positions = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(rows)), 3.5))
    ax.bar([p - 0.2 for p in positions], [row["baseline"] for row in rows], 0.4, label="baseline")
    ax.bar([p + 0.2 for p in positions], [row["result"] for row in rows], 0.4, label="result")
    ax.set_xticks(list(positions), labels, fontsize=7)
    ax.legend()
    ax.set_title("recipes against their baselines")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# Log lines that libraries print to stdout (vLLM, DeepSpeed, TRL's loss dicts, progress bars): kept out of
# the page's sections; the raw output stays in DAY.json.
_LOG_LINE = re.compile(r"^(\(\w+ pid=\d+\)|\[\d{4}-\d\d-\d\d [\d:,.]+\]|(INFO|WARNING|DEBUG|ERROR)\b|\{')|━")


def report_text(output: str) -> str:
    """A script's output without library log lines: its tables and prose."""
    return "\n".join(line for line in output.splitlines() if not _LOG_LINE.search(line)).strip()


def write_page(runs: list[BenchRun], out_dir: Path, day: str, suite: str) -> Path:
    """`DAY-SUITE.md` (tables, then each script's report), `DAY-SUITE-learning.png` and `DAY-SUITE.json`
    (every run, raw)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{day}-{suite}"
    page = out_dir / f"{stem}.md"
    (out_dir / f"{stem}.json").write_text(json.dumps([run.as_dict() for run in runs], indent=1))
    plotted = _plot(runs, out_dir / f"{stem}-learning.png")
    import torch

    lines = [
        f"# agentkit benchmarks: {suite}, {day}",
        "",
        f"`agentkit bench {suite}`: {SUITES[suite]}.",
        "",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, Python {platform.python_version()}, "
        f"torch {torch.__version__}. Every speed figure is a ratio of two runs timed side by side.",
        "",
        "| bench | status | wall time |",
        "|---|---|---|",
        *(f"| {run.name} | {run.status} | {run.seconds / 60:.1f} min |" for run in runs),
        f"| all | | {sum(run.seconds for run in runs) / 60:.1f} min |",
        "",
        "## Learning",
        "",
        learning_table(runs),
        "",
        *([f"![recipes against their baselines]({stem}-learning.png)", ""] if plotted else []),
        "## Speed",
        "",
        speed_table(runs),
        "",
    ]
    for run in runs:
        lines += [f"## {run.name} ({BENCHES[run.name].about})", "", report_text(run.output), ""]
    page.write_text("\n".join(lines))
    return page


def update_readme(readme: Path, runs: list[BenchRun], page: Path) -> None:
    """Replace the README's results block (between its markers) with the tables of a `claims` run."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise BenchError(f"{readme} has no {README_START} ... {README_END} block to fill")
    block = "\n".join(
        [
            README_START,
            f"Generated by `agentkit bench claims` ({page.stem}; full page: `{page.as_posix()}`, with each "
            "run's settings and wall time).",
            "",
            learning_table(runs),
            "",
            speed_table(runs),
            README_END,
        ]
    )
    head, rest = text.split(README_START, 1)
    readme.write_text(head + block + rest.split(README_END, 1)[1])


def run_benches(
    names: list[str], out_dir: Path, readme: Path | None = None, extra: list[str] | None = None, echo=print
) -> list[BenchRun]:
    """Run suites (`quick`, `claims`, `speed`, `toy`) and benches by name, one after another; each suite's page of
    the day is rewritten after every bench.

    A named suite starts its page of the day afresh; a named bench replaces its own rows and keeps the
    others, so re-running one bench never drops the rest of a suite's run. The README's block is rewritten
    whenever the day's `claims` page covers every claims bench.
    """
    for name in names:
        if name not in SUITES and name not in BENCHES:
            raise _unknown(name)
    folder = bench_folder()
    day = date.today().isoformat()
    runs: list[BenchRun] = []
    for suite in SUITES:
        chosen = [n for n, bench in BENCHES.items() if bench.suite == suite and (n in names or suite in names)]
        if not chosen:
            continue
        saved = out_dir / f"{day}-{suite}.json"
        kept = {} if suite in names or not saved.is_file() else {
            run["name"]: BenchRun(**run) for run in json.loads(saved.read_text())
        }  # fmt: skip
        members = [n for n, bench in BENCHES.items() if bench.suite == suite]
        for name in chosen:
            echo(f"bench {name}: running ({BENCHES[name].about})")
            runs.append(run_bench(name, folder, extra))
            echo(f"bench {name}: {runs[-1].status} in {runs[-1].seconds / 60:.1f} min")
            kept[name] = runs[-1]
            page = write_page([kept[n] for n in members if n in kept], out_dir, day, suite)
        if suite == "claims" and readme is not None and all(n in kept for n in members):
            update_readme(readme, [kept[n] for n in members], page)
    return runs
