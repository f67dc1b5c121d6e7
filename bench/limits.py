"""How close the model work of agentkit runs to this machine's limit: prompt processing (what scoring pays per
new token), token-by-token decoding and a LoRA training step on the real model, each in float32 and bfloat16,
each as a share of the matmul peak of its dtype measured in the same run.

    python bench/limits.py [--model smollm2-135m] [--tokens 1024] [--layers 8] [--threads 2] [--repeats 3]

FLOPs are the work the model must do (`agentkit.flops`); times are the best of `--repeats`. Decoding reads
every weight once per step for a handful of FLOPs per byte, so it is bound by memory bandwidth, not the
matmul peak: batching sequences is what raises its share.
"""

from __future__ import annotations

import argparse

from agentkit.flops import best_seconds

DECODE_CONTEXT = 256
DECODE_STEPS = 16


def decode_seconds(model, batch: int, vocab: int, repeats: int) -> float:
    """Seconds for DECODE_STEPS greedy steps of `batch` sequences after a cached DECODE_CONTEXT-token prompt."""
    import torch

    prompt = torch.randint(100, vocab - 1, (batch, DECODE_CONTEXT))
    with torch.inference_mode():
        start = model(input_ids=prompt, use_cache=True, logits_to_keep=1)
        cache, first = start.past_key_values, start.logits[:, -1:].argmax(-1)

        def steps() -> None:
            token = first
            for _ in range(DECODE_STEPS):
                token = model(input_ids=token, past_key_values=cache, use_cache=True).logits[:, -1:].argmax(-1)
            cache.crop(-DECODE_STEPS)  # back to the prompt for the next repeat

        return best_seconds(steps, repeats)


def inference_rows(path: str, dtype: str, config, tokens, repeats: int) -> list[tuple[str, str, float, float]]:
    """A prompt pass over `tokens` and decoding at batch 1 and 8, with the weights in `dtype`."""
    import torch
    from transformers import AutoModelForCausalLM

    from agentkit.flops import decode_flops, forward_flops

    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
    length = tokens.shape[1]
    with torch.inference_mode():
        seconds = best_seconds(lambda: model(input_ids=tokens, logits_to_keep=1), repeats)
    rows = [(f"prompt pass, {length} tokens", dtype, length / seconds, forward_flops(config, [length], 1) / seconds)]
    for batch in (1, 8):
        seconds = decode_seconds(model, batch, config.vocab_size, repeats)
        work = batch * sum(decode_flops(config, DECODE_CONTEXT + i) for i in range(DECODE_STEPS))
        rows.append((f"decoding, batch {batch}", dtype, batch * DECODE_STEPS / seconds, work / seconds))
    return rows


def training_row(path: str, dtype: str, config, tokens, layers: int, repeats: int) -> tuple[str, str, float, float]:
    """One LoRA forward + backward over `tokens`: float32 weights, bfloat16 autocast as `train.bf16` does."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from agentkit.flops import lora_step_flops
    from agentkit.training.sft import AdapterConfig, peft_config

    base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    policy = get_peft_model(base, peft_config(AdapterConfig(layers=layers), base))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
            loss = policy(input_ids=tokens, labels=tokens).loss
        loss.backward()

    seconds = best_seconds(step, repeats)
    length = tokens.shape[1]
    work = f"LoRA step, {length} tokens, last {layers} of {config.num_hidden_layers} layers"
    return work, dtype, length / seconds, lora_step_flops(config, [length], layers) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m", help="a catalogue name, folder or hub name")
    parser.add_argument("--cache-dir", default=".cache/agentkit")
    parser.add_argument("--tokens", type=int, default=1024, help="tokens of the prompt pass and the training step")
    parser.add_argument("--layers", type=int, default=8, help="LoRA adapters on the last N layers")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch
    from transformers import AutoConfig

    from agentkit.benchmarks import result_line
    from agentkit.flops import matmul_peak
    from agentkit.models import resolve_model

    torch.set_num_threads(args.threads)
    path = resolve_model(args.model, args.cache_dir)
    config = AutoConfig.from_pretrained(path)
    dtypes = ("float32", "bfloat16")
    peak = {dtype: matmul_peak(dtype) for dtype in dtypes}
    tokens = torch.randint(100, config.vocab_size - 1, (1, args.tokens))
    rows: list[tuple[str, str, float, float]] = []  # (work, dtype, tokens/s, FLOP/s)
    for dtype in dtypes:
        rows += inference_rows(path, dtype, config, tokens, args.repeats)
        rows.append(training_row(path, dtype, config, tokens, args.layers, args.repeats))

    print(
        f"\nModel {args.model} ({config.num_hidden_layers} layers, hidden {config.hidden_size}), {args.threads}"
        f" thread(s), best of {args.repeats}; matmul peak {peak['float32'] / 1e9:.1f} GFLOP/s float32,"
        f" {peak['bfloat16'] / 1e9:.1f} GFLOP/s bfloat16\n"
    )
    print("| work | dtype | tokens/s | GFLOP/s | share of the dtype's matmul peak |\n|---|---|---|---|---|")
    for work, dtype, rate, flops in rows:
        print(f"| {work} | {dtype} | {rate:.0f} | {flops / 1e9:.1f} | {100 * flops / peak[dtype]:.1f}% |")
    print()
    by = {(work, dtype): rate for work, dtype, rate, _ in rows}
    for work in dict.fromkeys(work for work, _, _, _ in rows):
        ratio = by[(work, "bfloat16")] / by[(work, "float32")]
        print(result_line("SPEED", measure=f"{work}: bfloat16 / float32", ratio=round(ratio, 3)))


if __name__ == "__main__":
    main()
