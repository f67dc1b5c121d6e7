"""SFT throughput on agent trajectories: padding-free batches vs padded batches, same data and model.

    python bench/sft_padding.py [--preset tiny|small] [--steps N]

Both runs train the same LoRA adapter on the same expert TextWorld decisions (per-turn loss masks kept),
alternating which goes first; the table gives trained tokens per second and the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


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
        lambda: build_env("textworld", kwargs, None), tasks, PolicyAgent(ExpertPolicy()), num_envs=1, progress=False
    )
    return episodes


def run(model: str, dataset, padding_free: bool, steps: int, out: Path) -> float:
    from trl import SFTTrainer

    from agentkit.models import load_tokenizer
    from agentkit.training.sft import LoraSettings, TrainSettings, peft_config, sft_args

    settings = TrainSettings(
        max_steps=steps, batch_size=8, padding_free=padding_free, save_steps=10**6, logging_steps=10**6
    )
    trainer = SFTTrainer(
        model=model,
        args=sft_args(settings, out, use_cpu=True, disable_tqdm=True),
        train_dataset=dataset,
        processing_class=load_tokenizer(model),
        peft_config=peft_config(LoraSettings()),
    )
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--games", type=int, default=12)
    args = parser.parse_args()
    from agentkit.models import load_tokenizer, make_tiny_model
    from agentkit.prompts import PromptFormat
    from agentkit.training.data import samples_dataset

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        model = str(make_tiny_model(cache / "model", preset=args.preset))
        dataset, _ = samples_dataset(load_tokenizer(model), demos(cache, args.games), PromptFormat(history=4))
        lengths = [len(x) for x in dataset["input_ids"]]
        results = {True: [], False: []}
        for order in ((True, False), (False, True)):
            for padding_free in order:
                results[padding_free].append(run(model, dataset, padding_free, args.steps, cache / "out"))
    # Same seed, same data order: both runs train on the same real tokens, so the rate compares time.
    real_tokens = 2 * args.steps * 8 * sum(lengths) / len(lengths)
    rate = {k: real_tokens / sum(v) for k, v in results.items()}
    print(
        f"\n{len(lengths)} decisions, {min(lengths)}-{max(lengths)} tokens (mean {sum(lengths) / len(lengths):.0f}),"
        f" preset {args.preset}, batch 8, {args.steps} steps per run, two runs each, alternating\n"
    )
    print("| batches | real tokens/s (estimated from mean length) |\n|---|---|")
    print(f"| padding-free (position ids, no pad tokens) | {rate[True]:.0f} |")
    print(f"| padded to the longest in the batch | {rate[False]:.0f} |")
    print(f"| ratio padding-free / padded | {rate[True] / rate[False]:.2f}x |")


if __name__ == "__main__":
    main()
