"""Rollout bench: batched multi-env rollout against a one-env-at-a-time loop, and vLLM against HF `generate`.

    python bench/rollout.py [--preset small] [--episodes 16] [--max-steps 8] [--max-tokens 16]

Plays the same TextWorld custom games (train split) greedily with a random-init model of the preset
(`agentkit.models.make_tiny_model`), through the rollout engine, with each backend at 16 envs (one
`generate` call per turn for all live episodes) and at 1 env (one call per episode turn). Greedy decoding
makes every configuration play the very same episodes, so the work is equal and only the speed differs.
Everything runs side by side in one process; prints one markdown table and the ratios.

vLLM runs on all cores (`VLLM_CPU_OMP_THREADS_BIND=0-<n-1>`); HF runs with 1 thread (fastest under CPU
contention here) and, at 16 envs, also with all cores.
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


def measure(backend, env_kwargs: dict, num_envs: int, episodes: int, params) -> dict:
    from agentkit.envs import make
    from agentkit.prompts import PromptFormat
    from agentkit.rollout.engine import ModelAgent, Task, rollout

    probe = make("textworld", **env_kwargs)
    task_ids = probe.task_ids()
    probe.close()
    tasks = [Task(task_ids[i % len(task_ids)], i) for i in range(episodes)]
    start = time.perf_counter()
    played, stats = rollout(
        lambda: make("textworld", **env_kwargs),
        tasks,
        ModelAgent(backend, params),
        num_envs=num_envs,
        prompt_format=PromptFormat(history=2),
        progress=False,
    )
    seconds = time.perf_counter() - start
    if stats.errors:
        raise RuntimeError(f"{stats.errors} episodes failed; first: {next(e.error for e in played if e.error)}")
    replies = [[t.token_ids for t in e.turns if t.role == "assistant"] for e in played]
    print(f"{backend.name} at {num_envs} envs: {seconds:.1f} s", file=sys.stderr, flush=True)
    return {
        "episodes/s": len(played) / seconds,
        "tokens/s": stats.generated_tokens / seconds,
        "steps": stats.steps,
        "tokens": stats.generated_tokens,
        "seconds": seconds,
        "replies": replies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()

    from agentkit.rollout.vllm_backend import cpu_environment

    cores = os.cpu_count() or 1
    (CACHE / "tmp").mkdir(parents=True, exist_ok=True)
    os.environ.update({**cpu_environment(CACHE, threads=f"0-{cores - 1}"), "TMPDIR": str(CACHE / "tmp")})

    import torch

    from agentkit.benchmarks import result_line
    from agentkit.rollout.hf_backend import HFBackend
    from agentkit.rollout.sampling import SamplingParams
    from agentkit.rollout.vllm_backend import VLLMBackend

    model = str(model_dir(args.preset))
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
    vllm = VLLMBackend(model, enable_lora=False, max_model_len=2048)
    vllm_start = time.perf_counter() - started
    hf = HFBackend(model, threads=1)
    for backend in (vllm, hf):
        backend.generate(warmup, params)

    batched, single = f"{args.envs} envs", "1 env"
    vllm_batched, vllm_single = f"vllm, {batched}", f"vllm, {single}"
    hf_batched, hf_single = f"hf 1 thread, {batched}", f"hf 1 thread, {single}"
    hf_all = f"hf {cores} threads, {batched}"
    rows: dict[str, dict] = {}
    rows[vllm_batched] = measure(vllm, env_kwargs, args.envs, args.episodes, params)
    rows[vllm_single] = measure(vllm, env_kwargs, 1, args.episodes, params)
    rows[hf_batched] = measure(hf, env_kwargs, args.envs, args.episodes, params)
    rows[hf_single] = measure(hf, env_kwargs, 1, args.episodes, params)
    torch.set_num_threads(cores)
    rows[hf_all] = measure(hf, env_kwargs, args.envs, args.episodes, params)
    vllm.close()

    reference = rows[vllm_batched]["replies"]
    print(
        f"\nRollout, TextWorld custom games, `{args.preset}` preset (random init, fp32), {args.episodes} episodes "
        f"x up to {args.max_steps} steps, greedy, max {args.max_tokens} new tokens; vLLM engine start "
        f"{vllm_start:.0f} s (not counted); load average {os.getloadavg()[0]:.1f} on {cores} cores\n"
    )
    print("| backend, envs at once | episodes/s | tokens/s | steps | generated tokens | seconds | same replies |")
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['episodes/s']:.3f} | {row['tokens/s']:.0f} | {row['steps']} | {row['tokens']} | "
            f"{row['seconds']:.1f} | {'yes' if row['replies'] == reference else 'NO'} |"
        )
    ratios = {
        f"vLLM batched ({batched}) / sequential ({single})": (vllm_batched, vllm_single),
        f"HF 1 thread batched ({batched}) / sequential ({single})": (hf_batched, hf_single),
        f"vLLM / HF 1 thread, {batched}": (vllm_batched, hf_batched),
        f"vLLM / HF {cores} threads, {batched}": (vllm_batched, hf_all),
    }
    speedups = {label: rows[a]["episodes/s"] / rows[b]["episodes/s"] for label, (a, b) in ratios.items()}
    print("\n| ratio of episodes/s | value |\n|---|---|")
    for label, speedup in speedups.items():
        print(f"| {label} | {speedup:.2f}x |")
    print()
    for label, speedup in speedups.items():
        print(result_line("SPEED", measure=f"rollout: {label}", ratio=round(speedup, 3)))


if __name__ == "__main__":
    main()
