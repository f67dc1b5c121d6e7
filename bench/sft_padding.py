"""SFT throughput on agent trajectories: TRL's padded default against padding-free batches, same data, same
model.

    python bench/sft_padding.py [--preset tiny|small | --model smollm2-135m --layers 8] [--steps N] [--rounds R]
                                [--threads T]

Three variants train the same LoRA adapter on the same expert TextWorld decisions (per-turn loss masks kept,
same seed, so the same batches in the same order):

- padded: TRL's default, each batch padded to its longest decision, with an attention mask;
- padding-free, sdpa: one packed row per batch, transformers' sdpa under a block-diagonal mask;
- padding-free, varlen: one packed row, one causal attention per decision
  (`agentkit.training.varlen_attention`);
- padding-free, varlen, bf16: the same under bfloat16 autocast (fast only on CPUs with AVX512-BF16 or AMX).

Each run is a child process (so its peak RSS is its own), and the variants take turns, rotating which goes
first, so they see the same machine load; every run and the matmul peak use `--threads` threads (default 1:
on a shared machine two threads thrash). MFU is the FLOPs a LoRA step must do (`agentkit.flops.lora_step_flops`:
the forward, then activation gradients down to the lowest adapted layer) over the matmul peak of its dtype
measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {
    "padded": {"padding_free": False},
    "padding-free, sdpa": {"padding_free": True, "attn_implementation": "sdpa"},
    "padding-free, varlen": {"padding_free": True},
    "padding-free, varlen, bf16": {"padding_free": True, "bf16": True},
}
BATCH = 8


def demos(cache: Path, games: int):
    from agentkit.collect import build_env
    from agentkit.envs import make
    from agentkit.policies import ExpertPolicy
    from agentkit.rollout.engine import PolicyAgent, Task, rollout

    kwargs = {"game_set": "custom", "split": "train", "n_games": games, "cache_dir": str(cache / "games")}
    env = make("textworld", **kwargs)
    tasks = [Task(task_id, i) for i, task_id in enumerate(env.task_ids())]
    env.close()
    episodes, _ = rollout(
        lambda: build_env("textworld", kwargs, None),
        tasks,
        PolicyAgent(ExpertPolicy()),
        num_envs=1,
        progress=False,
    )
    return episodes


def child(model: str, data: str, variant: str, steps: int, out: str, layers: int | None) -> None:
    """Train one variant and print its figures as one JSON line (run in its own process)."""
    import resource

    import datasets
    from trl import SFTTrainer

    from agentkit.models import load_tokenizer
    from agentkit.training.sft import AdapterConfig, TrainConfig, peft_config, sft_args

    setup = dict(VARIANTS[variant])
    overrides = {}
    if "attn_implementation" in setup:
        overrides["model_init_kwargs"] = {"attn_implementation": setup.pop("attn_implementation")}
    settings = TrainConfig(
        max_steps=steps, batch_size=BATCH, save_steps=10**6, logging_steps=10**6, **setup
    )
    trainer = SFTTrainer(
        model=model,
        args=sft_args(settings, out, use_cpu=True, disable_tqdm=True, **overrides),
        train_dataset=datasets.load_from_disk(data),
        processing_class=load_tokenizer(model),
        peft_config=peft_config(AdapterConfig(layers=layers), model),
    )
    lengths: list[int] = []
    collate = trainer.data_collator

    def counting(examples):
        lengths.extend(len(example["input_ids"]) for example in examples)
        return collate(examples)

    trainer.data_collator = counting
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    config = trainer.model.config
    print(
        json.dumps(
            {
                "seconds": seconds,
                "lengths": lengths,
                "loss": result.training_loss,
                "attention": config._attn_implementation,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def attention_seconds(lengths: list[int], heads: int, kv_heads: int, head_dim: int) -> dict[str, float]:
    """Forward + backward of the attention alone over one packed batch of `lengths`, three ways: the varlen
    loop (one causal sdpa per sequence), the sequences gathered into a padded (n, heads, longest, d) tensor,
    and transformers' packed sdpa (the whole row under a block-diagonal mask)."""
    import torch
    import torch.nn.functional as F

    from agentkit.training.varlen_attention import varlen_attention_forward

    total, longest = sum(lengths), max(lengths)
    bounds = torch.tensor([0, *lengths]).cumsum(0)
    cu_seq_lens = bounds.to(torch.int32)
    segment = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    block_diagonal = (segment[:, None] == segment[None]) & torch.ones(total, total, dtype=torch.bool).tril()
    gather = torch.cat([torch.arange(start, start + longest).clamp(max=total - 1) for start in bounds[:-1]])
    real = (torch.arange(longest)[None] < torch.tensor(lengths)[:, None]).reshape(-1)
    module = torch.nn.Module()

    def padded(query, key, value):
        def split(x):
            return x[0, :, gather].reshape(x.shape[1], len(lengths), longest, head_dim).transpose(0, 1)

        out = F.scaled_dot_product_attention(
            split(query), split(key), split(value), is_causal=True, enable_gqa=True
        )
        return out.transpose(0, 1).reshape(heads, -1, head_dim)[:, real]

    ways = {
        "varlen loop": lambda q, k, v: varlen_attention_forward(
            module, q, k, v, None, cu_seq_lens_q=cu_seq_lens
        )[0],
        "padded segments": padded,
        "block-diagonal mask": lambda q, k, v: F.scaled_dot_product_attention(
            q, k, v, attn_mask=block_diagonal, enable_gqa=True
        ),
    }
    seconds = dict.fromkeys(ways, 0.0)
    for repeat in range(4):  # the first round warms the kernels up and is not counted
        for name, way in ways.items():
            inputs = [
                torch.randn(1, n, total, head_dim, requires_grad=True) for n in (heads, kv_heads, kv_heads)
            ]
            started = time.perf_counter()
            way(*inputs).sum().backward()
            seconds[name] += (time.perf_counter() - started) if repeat else 0.0
    return seconds


def run_child(model: str, data: Path, variant: str, steps: int, out: Path, threads: int, layers: int | None) -> dict:
    command = [sys.executable, __file__, "--child", variant, "--model", model, "--data", str(data)]
    command += ["--steps", str(steps), "--out", str(out)] + (["--layers", str(layers)] if layers else [])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"variant {variant!r} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--model", help="a catalogue name, folder or hub name instead of a tiny preset")
    parser.add_argument("--layers", type=int, help="adapters on the last N layers only (lora.layers)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--games", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", choices=list(VARIANTS))
    parser.add_argument("--data")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(args.model, args.data, args.child, args.steps, args.out, args.layers)
        return

    import torch
    from transformers import AutoConfig

    from agentkit.benchmarks import result_line
    from agentkit.flops import lora_step_flops, matmul_peak
    from agentkit.models import load_tokenizer, make_tiny_model, resolve_model
    from agentkit.prompts import PromptFormat
    from agentkit.training.data import samples_dataset

    torch.set_num_threads(args.threads)
    names = list(VARIANTS)
    runs: dict[str, list[dict]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        if args.model:
            model = resolve_model(args.model, ".cache/agentkit")
        else:
            model = str(make_tiny_model(cache / "model", preset=args.preset))
        dataset, _, _ = samples_dataset(load_tokenizer(model), demos(cache, args.games), PromptFormat(history=4))
        dataset.save_to_disk(str(cache / "data"))
        lengths = [len(x) for x in dataset["input_ids"]]
        peak = {dtype: matmul_peak(dtype=dtype) for dtype in ("float32", "bfloat16")}
        for round_index in range(args.rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                run = run_child(model, cache / "data", name, args.steps, cache / "out", args.threads, args.layers)
                runs[name].append(run)
        peak = {dtype: max(best, matmul_peak(dtype=dtype)) for dtype, best in peak.items()}
        batch_lengths = runs["padded"][0]["lengths"][:BATCH]
        config = AutoConfig.from_pretrained(model)
        heads = config.num_attention_heads
        shape = (heads, config.num_key_value_heads, config.hidden_size // heads)
        kernels = attention_seconds(batch_lengths, *shape)

    trained_layers = args.layers or config.num_hidden_layers
    rate = {
        name: sum(sum(r["lengths"]) for r in rs) / sum(r["seconds"] for r in rs) for name, rs in runs.items()
    }
    print(
        f"\n{len(lengths)} decisions, {min(lengths)}-{max(lengths)} tokens"
        f" (mean {sum(lengths) / len(lengths):.0f}), model {args.model or 'preset ' + args.preset},"
        f" adapters on {trained_layers} of {config.num_hidden_layers} layers, batch {BATCH},"
        f" {args.steps} steps per run, {args.rounds} runs per variant taking turns, {args.threads} thread(s);"
        f" matmul peak {peak['float32'] / 1e9:.1f} GFLOP/s fp32, {peak['bfloat16'] / 1e9:.1f} bf16\n"
    )
    print("| variant | attention | real tokens/s | ratio to padded | train loss | peak RSS (MB) | MFU |")
    print("|---|---|---|---|---|---|---|")
    for name, rs in runs.items():
        flops = sum(lora_step_flops(config, r["lengths"], trained_layers) for r in rs) / sum(r["seconds"] for r in rs)
        limit = peak["bfloat16" if VARIANTS[name].get("bf16") else "float32"]
        losses = ", ".join(f"{r['loss']:.4f}" for r in rs)
        print(
            f"| {name} | {rs[0]['attention']} | {rate[name]:.0f} | {rate[name] / rate['padded']:.2f}x |"
            f" {losses} |"
            f" {max(r['peak_rss_mb'] for r in rs):.0f} | {100 * flops / limit:.1f}% |"
        )
    print(
        f"\nAttention alone ({shape[0]} heads, {shape[1]} KV heads, head dim {shape[2]}), forward + backward"
        f" over the first batch ({', '.join(map(str, batch_lengths))} tokens), 3 repeats:\n"
    )
    print("| packed attention | seconds | vs varlen loop |\n|---|---|---|")
    for name, seconds in kernels.items():
        print(f"| {name} | {seconds:.2f} | {seconds / kernels['varlen loop']:.2f}x |")
    print()
    print(
        result_line(
            "SPEED",
            measure="SFT padding-free (sdpa) / TRL padded",
            ratio=round(rate["padding-free, sdpa"] / rate["padded"], 3),
        )
    )
    print(
        result_line(
            "SPEED",
            measure="SFT padding-free (varlen) / TRL padded",
            ratio=round(rate["padding-free, varlen"] / rate["padded"], 3),
            goal=1.5,
        )
    )
    print(
        result_line(
            "SPEED",
            measure="SFT padding-free (varlen) bf16 / fp32",
            ratio=round(rate["padding-free, varlen, bf16"] / rate["padding-free, varlen"], 3),
        )
    )


if __name__ == "__main__":
    main()
