"""Rollout bench: vLLM against HF `generate`, many envs at once against one, whole-episode prompts against a
window, on TextWorld episodes.

    python bench/rollout.py [--model smollm2-135m | --preset small] [--episodes 16] [--envs 16] [--max-steps 8]
                            [--max-tokens 16] [--window 1] [--backends vllm,hf]

Plays the same TextWorld custom games (train split) greedily, replies written as free text, through the
rollout engine: each backend at `--envs` envs (one `generate` call per turn for all live episodes) and at 1
env (one call per episode turn), with whole-episode prompts (every observation keeps its command list, so
each prompt extends the episode's last one and a prefix cache serves all but the newest turn) and with a
window of the last `--window` steps (the prompt changes after the first observation at every step). vLLM's
prefix cache is emptied before each row. Greedy decoding makes every configuration of one prompt layout play
the very same episodes, so the work is equal and only the speed differs. Everything runs side by side in one
process; prints one markdown table and the ratios.

`--model` is a catalogue name, folder or hub name (default: SmolLM2-135M-Instruct, zero-shot); `--preset`
a random-init tiny model instead. Both backends run float32 on all cores. Prompt tokens per step and the
prefix-cache hit rate are vLLM's own counters; HF `generate` computes every prompt token at every step.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "bench-rollout"


def model_dir(preset: str) -> Path:
    from agentkit.models import make_tiny_model

    out = CACHE / f"model-{preset}"
    if not (out / "config.json").is_file():
        make_tiny_model(out, preset=preset, seed=0)
    return out


def measure(backend, env_kwargs: dict, num_envs: int, episodes: int, params, history: int | None) -> dict:
    from agentkit.envs import make
    from agentkit.prompts import PromptFormat
    from agentkit.rollout.engine import ModelAgent, Task, rollout

    probe = make("textworld", **env_kwargs)
    task_ids = probe.task_ids()
    probe.close()
    tasks = [Task(task_ids[i % len(task_ids)], i) for i in range(episodes)]
    backend.reset_prefix_cache()  # each row starts from an empty cache, not the last row's
    counts = backend.prompt_token_counts()
    start = time.perf_counter()
    played, stats = rollout(
        lambda: make("textworld", **env_kwargs),
        tasks,
        ModelAgent(backend, params),
        num_envs=num_envs,
        # The whole episode keeps every observation's command list, so each prompt extends the last one.
        prompt_format=PromptFormat(history=history, past_commands=history is None),
        progress=False,
    )
    seconds = time.perf_counter() - start
    if stats.errors:
        raise RuntimeError(f"{stats.errors} episodes failed; first: {next(e.error for e in played if e.error)}")
    after = backend.prompt_token_counts()
    given, computed = (a - b for a, b in zip(after, counts, strict=True)) if counts else (None, None)
    print(f"{backend.name} at {num_envs} envs, history {history}: {seconds:.1f} s", file=sys.stderr, flush=True)
    return {
        "episodes/s": len(played) / seconds,
        "tokens/s": stats.generated_tokens / seconds,
        "steps": stats.steps,
        "wins": stats.successes,
        "tokens": stats.generated_tokens,
        "seconds": seconds,
        "given": given / stats.steps if given is not None else None,
        "computed": computed / stats.steps if computed is not None else None,
        "hit": 1 - computed / given if given else None,
        "replies": [[t.token_ids for t in e.turns if t.role == "assistant"] for e in played],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a catalogue name, folder or hub name (default smollm2-135m)")
    parser.add_argument("--preset", help="a random-init tiny model of this preset instead of --model")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--window", type=int, default=1, help="steps the windowed prompt layout keeps")
    parser.add_argument("--backends", default="vllm,hf", help="comma-separated: the rows and ratios to run")
    args = parser.parse_args()

    from agentkit.rollout.vllm_backend import cpu_environment

    cores = os.cpu_count() or 1
    (CACHE / "tmp").mkdir(parents=True, exist_ok=True)
    os.environ.update({**cpu_environment(CACHE, threads=f"0-{cores - 1}"), "TMPDIR": str(CACHE / "tmp")})

    from agentkit.benchmarks import result_line
    from agentkit.models import resolve_model
    from agentkit.rollout.hf_backend import HFBackend
    from agentkit.rollout.sampling import SamplingParams
    from agentkit.rollout.vllm_backend import VLLMBackend

    if args.preset:
        model, label = str(model_dir(args.preset)), f"`{args.preset}` preset (random init)"
    else:
        model, label = resolve_model(args.model or "smollm2-135m", ".cache/agentkit"), args.model or "smollm2-135m"
    env_kwargs = {
        "game_set": "custom",
        "split": "train",
        "n_games": args.episodes,
        "max_steps": args.max_steps,
        "cache_dir": str(CACHE / "textworld"),
    }
    params = SamplingParams(max_tokens=args.max_tokens)
    warmup = [[{"role": "user", "content": "warm up"}]] * 2

    started = time.perf_counter()
    vllm = VLLMBackend(model, enable_lora=False, max_model_len=4096)
    vllm_start = time.perf_counter() - started
    hf = HFBackend(model, threads=cores)
    for backend in (vllm, hf):
        backend.generate(warmup, params)

    whole, window = "whole episode", f"last {args.window} step{'s' if args.window > 1 else ''}"
    plan = {  # row: (backend, envs, history)
        f"{backend.name}, {envs}, {layout}": (backend, n, history)
        for layout, history in ((whole, None), (window, args.window))
        for backend in (vllm, hf)
        for envs, n in ((f"{args.envs} envs", args.envs), ("1 env", 1))
    }
    chosen = args.backends.split(",")
    plan = {name: row for name, row in plan.items() if row[0].name in chosen}
    rows = {name: measure(b, env_kwargs, n, args.episodes, params, history) for name, (b, n, history) in plan.items()}
    vllm.close()

    print(
        f"\nRollout, TextWorld custom games, {label}, fp32, {args.episodes} episodes x up to {args.max_steps} steps, "
        f"greedy, free-text replies of up to {args.max_tokens} tokens; vLLM engine start {vllm_start:.0f} s (not "
        f"counted); load average {os.getloadavg()[0]:.1f} on {cores} cores\n"
    )
    print(
        "| backend, envs at once, prompt | episodes/s | tokens/s | steps | wins | prompt tokens per step "
        "| computed per step | prefix-cache hit | seconds | same replies |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        reference = rows[next(other for other in rows if other.endswith(name.rsplit(", ", 1)[1]))]
        counted = bool(row["given"])  # HF counts its scoring only: `generate` computes every prompt token
        given, computed = (f"{row['given']:.0f}", f"{row['computed']:.0f}") if counted else ("n/a", "all")
        hit = f"{row['hit']:.1%}" if counted else "none"
        print(
            f"| {name} | {row['episodes/s']:.3f} | {row['tokens/s']:.0f} | {row['steps']} | {row['wins']} | "
            f"{given} | {computed} | {hit} | {row['seconds']:.1f} | "
            f"{'yes' if row['replies'] == reference['replies'] else 'NO'} |"
        )
    batched, single = f"{args.envs} envs", "1 env"
    ratios = {}
    for layout in (whole, window):
        ratios[f"vLLM / HF, {batched}, {layout}"] = (f"vllm, {batched}, {layout}", f"hf, {batched}, {layout}")
        for name in ("vllm", "hf"):
            ratios[f"{name} batched ({batched}) / sequential ({single}), {layout}"] = (
                f"{name}, {batched}, {layout}",
                f"{name}, {single}, {layout}",
            )
    speedups = {
        label: rows[a]["episodes/s"] / rows[b]["episodes/s"] for label, (a, b) in ratios.items() if {a, b} <= set(rows)
    }
    print("\n| ratio of episodes/s | value |\n|---|---|")
    for label, speedup in speedups.items():
        print(f"| {label} | {speedup:.2f}x |")
    print()
    for label, speedup in speedups.items():
        print(result_line("SPEED", measure=f"rollout: {label}", ratio=round(speedup, 3)))


if __name__ == "__main__":
    main()
