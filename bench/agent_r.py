"""Agent-R against its behaviour-cloning start: held-out success, repeated-action loops, revisions.

    python bench/agent_r.py [key=value ...]   (overrides go to the recipe's config)

Runs `recipes/agent_r.py` (textcraft, depth-1 goals, fixed seeds) on a warm-started tiny model (fully
trained on random-play transcripts of the training goals: the game's language and command format, no
expert strategy; cached). Round 0 trains a BC adapter on one expert demo per training goal, then 2 Agent-R
rounds search, splice and train; search and evaluation draw commands from the admissible list (the
config's `action_space`). Prints one markdown table
(BC start and each round on the same held-out goals and seeds) and checks the claim: after 2 rounds held-out
success is at least 5 points above the BC start and the repeated-action rate is lower. Prints MISSED and
exits 1 when it is not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from agentkit.benchmarks import result_line, run_seed

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "recipes" / "configs" / "agent_r_textcraft.yaml"
OUT = ROOT / "runs" / "bench_agent_r_textcraft"
MIN_GAIN = 0.05
SETTINGS = [
    "rounds=2",
    "seed=0",
    "env.train_limit=24",
    "env.kwargs.max_steps=10",
    "bc_train.max_steps=20",
    "bc_train.learning_rate=0.01",
    "bc_train.batch_size=8",
    "bc_train.padding_free=false",
    "train.max_steps=40",
    "train.learning_rate=0.005",
    "train.batch_size=8",
    "train.padding_free=false",
    "search.iterations=4",
    "search.candidates=4",
    "search.trees_at_once=12",
    "eval.num_envs=9",
]


def warm_base(episodes: int = 240, steps: int = 120) -> Path:
    """A tiny model fully trained on every decision of random play on the training goals (built once)."""
    from agentkit.collect import collect
    from agentkit.policies import RandomPolicy
    from agentkit.prompts import PromptFormat
    from agentkit.training.data import decision_samples
    from agentkit.training.warmup import warm_start
    from agentkit.trajectory import read_episodes

    config = yaml.safe_load(CONFIG.read_text())
    prompt = PromptFormat(**config["prompt"])
    transcripts = OUT.with_name("bench_agent_r_random_play.jsonl")
    if not transcripts.is_file():
        partial = transcripts.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        env_kwargs = {**config["env"]["kwargs"], **config["env"]["train_kwargs"], "max_steps": 10}
        collect("textcraft", env_kwargs, RandomPolicy(0), episodes, partial, prompt_format=prompt, seed=0,
                step_timeout=None, num_envs=8)
        partial.rename(transcripts)
    chats = [sample for episode in read_episodes(transcripts)[0] for sample in decision_samples(episode, prompt)]
    return warm_start("textcraft-random-play", chats=chats, steps=steps, cache_dir=ROOT / ".cache" / "agentkit")


def main(overrides: list[str]) -> None:
    started = time.perf_counter()
    base = warm_base()
    shutil.rmtree(OUT, ignore_errors=True)  # a fresh run, never a resumed one
    command = [sys.executable, str(ROOT / "recipes" / "agent_r.py"), "--config", str(CONFIG), f"output_dir={OUT}",
               f"model={base}", *SETTINGS, *overrides]
    subprocess.run(command, check=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    rounds = json.loads((OUT / "metrics.json").read_text())["rounds"]
    print(f"\nAgent-R on textcraft (depth-1 goals) from a random-play warm start, {len(rounds) - 1} rounds, "
          f"whole run {seconds:.0f} s\n")
    print("| policy | held-out episodes | success | 95% interval | repeated actions | invalid actions "
          "| revision pairs / good paths trained | episodes with a revision | of which succeeded |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rounds:
        e, search = r["eval"], r.get("search", {})
        trained = f"{search['revisions']} / {search['good']}" if search else "expert demos"
        revised = e["episodes_with_revision"]
        share = f"{e['revised_then_succeeded'] / revised:.0%}" if revised else "-"
        print(f"| {'BC start' if r['round'] == 0 else 'Agent-R round ' + str(r['round'])} | {e['episodes']} | "
              f"{e['success_rate']:.1%} | {e['success_low']:.1%}-{e['success_high']:.1%} | "
              f"{e['repeated_action_rate']:.1%} | {e['invalid_action_rate']:.1%} | {trained} | {revised} | "
              f"{share} |")
    start, last = rounds[0]["eval"], rounds[-1]["eval"]
    gain = last["success_rate"] - start["success_rate"]
    fewer_loops = last["repeated_action_rate"] < start["repeated_action_rate"]
    print(f"\nsuccess gain over the BC start: {gain:+.1%} (claim: >= {MIN_GAIN:+.0%}); repeated actions "
          f"{start['repeated_action_rate']:.1%} -> {last['repeated_action_rate']:.1%} (claim: lower)")
    seed = run_seed(OUT)
    headline = {"held-out success": "success_rate", "repeated-action rate": "repeated_action_rate",
                "expert agreement": "expert_agreement"}  # fmt: skip
    for metric, key in headline.items():
        print(result_line("RESULT", method=f"Agent-R ({len(rounds) - 1} rounds)", task="TextCraft depth-1",
                          metric=metric, baseline_name="BC start", baseline=start[key], result=last[key],
                          seeds=[seed]))
    if gain < MIN_GAIN or not fewer_loops:
        print("MISSED")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
