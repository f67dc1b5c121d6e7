"""Admissible-command evaluation on the real model: the scorer as it was, against today's HF and vLLM paths.

    python bench/admissible.py [--adapter runs/quickstart/adapter] [--games 20] [--scorers hf,hf-one,before,vllm]

Plays the quickstart's held-out TextWorld games (its config: `recipes/configs/bc_textworld_smollm2.yaml`,
whole-episode prompts, whole-reply ranking, 8 envs at once) greedily with SmolLM2-135M-Instruct (zero-shot,
or with `--adapter`), once per scorer, side by side in one process, and checks that every scorer chose the
very same command at every step. Scorers:

- `before`: the HF scorer as of commit 6ebad08 (kept here as the baseline): each decision alone, its whole
  prompt through the model with logits at every position, then its replies on copies of the prompt's cache.
- `hf-one`: today's HF scorer fed one decision per call (the prefix cache, no batching across envs).
- `hf`: today's HF scorer: the decisions of all envs in one pass, each prompt from its cached start.
- `vllm`: vLLM's engine, one-token requests per reply token on its prefix cache.

Prints a markdown table (seconds, decisions/s, prompt tokens computed per decision, prefix-cache hit rate,
peak resident memory of the process so far) and the speed-ups over `before`.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "recipes/configs/bc_textworld_smollm2.yaml"
CACHE = ROOT / ".cache" / "bench-admissible"


def issue_time_scorer(model: str, adapter: str | None, dtype: str, threads: int):
    """The HF backend with the scoring of commit 6ebad08: no prefix cache, one decision at a time."""
    import copy

    import torch

    from agentkit.rollout.backend import reply_token_ids
    from agentkit.rollout.hf_backend import HFBackend

    class BeforeBackend(HFBackend):
        @torch.inference_mode()
        def reply_logprobs(self, prompts, replies):
            scores = []
            for messages, options in zip(prompts, replies, strict=True):
                prompt, answers = reply_token_ids(self.tokenizer, messages, options)
                self._prompt_tokens[0] += len(prompt)
                self._prompt_tokens[1] += len(prompt)
                out = self.model(input_ids=torch.tensor([prompt]), use_cache=True)
                first = out.logits[0, -1].float().log_softmax(-1)
                totals = [first[answer[0]].item() for answer in answers]
                width = max(len(answer) for answer in answers) - 1
                if width:
                    cache = copy.deepcopy(out.past_key_values)
                    cache.batch_repeat_interleave(len(answers))
                    pad = self.tokenizer.pad_token_id
                    rest = [answer[:-1] + [pad] * (width - len(answer) + 1) for answer in answers]
                    mask = [[1] * (len(prompt) + len(a) - 1) + [0] * (width - len(a) + 1) for a in answers]
                    logits = (
                        self.model(
                            input_ids=torch.tensor(rest), attention_mask=torch.tensor(mask), past_key_values=cache
                        )
                        .logits.float()
                        .log_softmax(-1)
                    )
                    for k, answer in enumerate(answers):
                        steps = torch.arange(len(answer) - 1)
                        totals[k] += logits[k, steps, torch.tensor(answer[1:])].sum().item()
                scores.append([(t, len(a)) for t, a in zip(totals, answers, strict=True)])
            return scores

    return BeforeBackend(model, adapter=adapter, dtype=dtype, threads=threads)


def one_decision_per_call(backend):
    """Today's HF backend asked for one decision at a time, as the engine asked before batching."""
    score_all = backend.reply_logprobs
    backend.reply_logprobs = lambda prompts, replies: [
        score_all([p], [r])[0] for p, r in zip(prompts, replies, strict=True)
    ]
    return backend


def play(backend, config, games: int) -> dict:
    from agentkit.rollout.engine import ModelAgent, rollout
    from agentkit.rollout.sampling import SamplingParams

    tasks = config.env.tasks({**config.env.eval_kwargs, "n_games": games}, config.seed)
    start = time.perf_counter()
    episodes, stats = rollout(
        config.env.factory(config.env.eval_kwargs),
        tasks,
        ModelAgent(backend, SamplingParams(max_tokens=config.eval.max_tokens), config.eval.action_space),
        num_envs=config.eval.num_envs,
        prompt_format=config.prompt,
        progress=False,
    )
    seconds = time.perf_counter() - start
    if stats.errors:
        raise RuntimeError(f"{stats.errors} episodes failed; first: {next(e.error for e in episodes if e.error)}")
    counts = backend.prompt_token_counts()
    return {
        "seconds": seconds,
        "decisions": stats.steps,
        "wins": stats.successes,
        "episodes": len(episodes),
        "actions": [[t.action for t in e.turns if t.role == "assistant"] for e in episodes],
        "computed": counts[1] / stats.steps if counts else None,
        "given": counts[0] / stats.steps if counts else None,
        "hit": 1 - counts[1] / counts[0] if counts else None,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--adapter", help="a LoRA adapter folder (e.g. the quickstart's runs/quickstart/adapter)")
    parser.add_argument("--games", type=int, default=20)
    parser.add_argument("--dtype", default="float32", help="the HF scorers' dtype (vLLM runs float32 on CPU)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--scorers", default="hf,hf-one,before,vllm")
    args = parser.parse_args()
    scorers = args.scorers.split(",")

    from agentkit.rollout.vllm_backend import cpu_environment

    (CACHE / "tmp").mkdir(parents=True, exist_ok=True)
    os.environ.update({**cpu_environment(CACHE, threads=f"0-{args.threads - 1}"), "TMPDIR": str(CACHE / "tmp")})

    from agentkit.benchmarks import result_line
    from agentkit.config import load_config
    from agentkit.methods.bc.config import BCConfig
    from agentkit.models import resolve_model
    from agentkit.rollout.hf_backend import HFBackend
    from agentkit.rollout.vllm_backend import VLLMBackend

    config = load_config(BCConfig, CONFIG)
    model = resolve_model(args.model, config.cache_dir)
    hf_kwargs = {"adapter": args.adapter, "dtype": args.dtype, "threads": args.threads}
    makers = {
        "before": lambda: issue_time_scorer(model, args.adapter, args.dtype, args.threads),
        "hf-one": lambda: one_decision_per_call(HFBackend(model, **hf_kwargs)),
        "hf": lambda: HFBackend(model, **hf_kwargs),
        "vllm": lambda: VLLMBackend(model, adapter=args.adapter, max_model_len=4096),
    }
    rows = {}
    for name in scorers:
        backend = makers[name]()
        rows[name] = play(backend, config, args.games)
        backend.close()
        done = {key: value for key, value in rows[name].items() if key != "actions"}
        print(f"{name}: {done}", file=sys.stderr, flush=True)

    reference = "before" if "before" in rows else scorers[0]
    print(
        f"\nAdmissible-command evaluation, {args.games} held-out TextWorld games of the quickstart, "
        f"{args.model}{' + adapter ' + args.adapter if args.adapter else ' zero-shot'}, HF in {args.dtype} on "
        f"{args.threads} threads, vLLM in float32; {config.eval.num_envs} envs at once, greedy; load average "
        f"{os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| scorer | seconds | decisions | decisions/s | wins | prompt tokens per decision | computed per decision "
        f"| prefix-cache hit | peak RSS so far (GB) | same choices as {reference} |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        same = "yes" if row["actions"] == rows[reference]["actions"] else "NO"
        given = f"{row['given']:.0f}" if row["given"] is not None else "n/a"
        computed = f"{row['computed']:.0f}" if row["computed"] is not None else "n/a"
        hit = f"{row['hit']:.1%}" if row["hit"] is not None else "n/a"
        print(
            f"| {name} | {row['seconds']:.0f} | {row['decisions']} | {row['decisions'] / row['seconds']:.2f} | "
            f"{row['wins']}/{row['episodes']} | {given} | {computed} | {hit} | {row['peak_gb']:.1f} | {same} |"
        )
    if "before" in rows:
        print()
        for name, row in rows.items():
            if name != "before":
                speedup = rows["before"]["seconds"] / row["seconds"]
                print(result_line("SPEED", measure=f"admissible eval: {name} / before", ratio=round(speedup, 2)))


if __name__ == "__main__":
    main()
