"""OREAL: reinforcement learning from binary outcome rewards (Lyu et al., 2025, arXiv:2502.06781).

With only a correct/incorrect verdict per answer, behaviour cloning on the positive samples of best-of-K
sampling already learns the KL-regularised optimal policy; negative samples add signal once their reward
is reshaped (here: the RLOO advantage, leave-one-out within the prompt's group); and a token-level reward
model trained on outcomes alone says which tokens of a sample to learn from. Per token, on a LoRA policy
whose reference is the base model with the adapter disabled:

    loss = BC(positives, weights w)  +  eta * PG(negatives, weights 1 - w)  +  beta * KL_k3(policy || ref)

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/oreal.py \
        --config recipes/configs/oreal_arithmetic.yaml [key=value ...]

Steps: (1) an SFT warm start on arithmetic solutions (cached), (2) per step: K samples per prompt from
the current policy through the rollout backend, verified by the math reward; groups that are all correct
or all wrong are dropped; a few positives and negatives per prompt are trained on; (3) held-out pass@1
and pass@k of the start and the trained policy, (4) a run folder: config.yaml, metrics.json, report.md,
loss.png, adapter/, checkpoints/step-N (resumed from the newest).
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from agentkit.config import ConfigError, parse_recipe_args, print_report, run_recipe, save_config
from agentkit.training.checkpoints import complete_checkpoints, last_checkpoint, mark_complete
from agentkit.training.sft import LoraSettings
from agentkit.training.warmup import WarmStartSettings

PAPER_K = 16  # samples per prompt in the paper


@dataclass
class DataSettings:
    """Training prompts are procedural arithmetic problems of the train split (`agentkit.eval.arithmetic`)."""

    levels: list[int] = field(default_factory=lambda: [1, 2, 3])
    per_level: int = 2000
    style: Literal["words", "expression"] = "words"
    seed: int = 1


@dataclass
class WarmupSettings(WarmStartSettings):
    """The SFT warm start built when `model: warmup` (cached by content, so ablations share it)."""

    levels: list[int] = field(default_factory=lambda: [1, 2, 3])
    per_level: int = 2000
    seed: int = 0


@dataclass
class SamplingSettings:
    prompts_per_step: int = 64  # across all processes; must divide by the number of processes
    samples_per_prompt: int = PAPER_K
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 128
    backend: Literal["hf", "vllm"] = "hf"
    threads: int | None = None  # torch threads of the HF sampler

    def __post_init__(self) -> None:
        if self.samples_per_prompt < 2:
            raise ValueError(f"samples_per_prompt={self.samples_per_prompt} must be >= 2 (RLOO needs groups)")
        if self.prompts_per_step < 1:
            raise ValueError(f"prompts_per_step={self.prompts_per_step} must be >= 1")


@dataclass
class LossSettings:
    """Defaults from the paper. `negative_weight=0, kl_coef=0, token_rm=false` is rejection-sampling
    fine-tuning (behaviour cloning on positives) with the same loop."""

    positives_per_prompt: int = 1
    negatives_per_prompt: int = 1
    negative_weight: float = 0.5  # eta
    kl_coef: float = 0.01  # beta, k3 estimator
    token_rm: bool = True
    rm_warmup_steps: int = 10  # the policy is frozen while the token reward model warms up
    rm_learning_rate: float = 2e-6
    normalize_token_weights: bool = True  # each sample's token weights average 1
    pass_rate_weighting: bool = False  # weigh prompts by 1 - pass rate (harder prompts count more)

    def __post_init__(self) -> None:
        for name in ("positives_per_prompt", "negatives_per_prompt"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        for name in ("negative_weight", "kl_coef", "rm_learning_rate"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0")
        if self.rm_warmup_steps < 0:
            raise ValueError(f"rm_warmup_steps={self.rm_warmup_steps} must be >= 0")


@dataclass
class OptimSettings:
    steps: int = 80
    learning_rate: float = 5e-7
    warmup_steps: int = 0  # linear learning-rate warm-up once the policy starts learning
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    save_total_limit: int = 2

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps={self.steps} must be >= 1")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate={self.learning_rate} must be > 0")
        if self.save_total_limit < 1:
            raise ValueError(f"save_total_limit={self.save_total_limit} must be >= 1")


@dataclass
class EvalSettings:
    """Held-out problems of the test split: greedy accuracy, and pass@k from `samples` samples each."""

    levels: list[int] = field(default_factory=lambda: [1, 2, 3])
    per_level: int = 100
    samples: int = 8
    temperature: float = 1.0
    ks: list[int] = field(default_factory=lambda: [1, 4])
    max_tokens: int = 128
    include_start: bool = True  # also evaluate the starting policy
    threads: int | None = None

    def __post_init__(self) -> None:
        bad = [k for k in self.ks if not 1 <= k <= self.samples]
        if bad:
            raise ValueError(f"ks={self.ks}: every k must be between 1 and samples={self.samples}")


@dataclass
class OrealConfig:
    model: str = "warmup"  # `warmup` (SFT warm start), preset:tiny / preset:small, or a local model folder
    output_dir: str = "runs/oreal"
    cache_dir: str = ".cache/agentkit"
    seed: int = 0
    data: DataSettings = field(default_factory=DataSettings)
    warmup: WarmupSettings = field(default_factory=WarmupSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    skip_eval: bool = False
    report_to: list[str] = field(default_factory=list)  # accelerate trackers, e.g. [tensorboard] (OUTPUT_DIR/tb)

    def __post_init__(self) -> None:
        if self.lora.full_finetune:
            raise ValueError("full_finetune=True: OREAL trains a LoRA adapter (the base is its reference)")


# ---------------------------------------------------------------- loss terms (pure functions on tensors)


def positive_loss(logprobs: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Behaviour cloning on correct samples: weighted token NLL summed over `mask` / its token count."""
    mask = mask.to(logprobs.dtype)
    return -(weights * logprobs * mask).sum() / mask.sum().clamp(min=1)


def negative_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """Policy gradient on incorrect samples: -(ratio * advantage) per token, ratio = pi / pi_sampling,
    weighted, summed over `mask` and divided by its token count. `advantages` is one value per row (B,)."""
    mask = mask.to(logprobs.dtype)
    ratio = torch.exp(logprobs - old_logprobs.detach())
    return -(weights * ratio * advantages.unsqueeze(-1) * mask).sum() / mask.sum().clamp(min=1)


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean k3 estimate of KL(policy || reference) over the masked tokens."""
    from agentkit.training.policy_gradient import k3_kl, masked_sum_mean

    return masked_sum_mean(k3_kl(logprobs, ref_logprobs), mask)


@dataclass
class Selection:
    """The samples one step trains on: (group, completion) pairs, whether each is correct, its RLOO
    advantage and its prompt's weight; plus how many groups were kept."""

    picks: list[tuple[int, int]]
    correct: list[bool]
    advantages: list[float]
    prompt_weights: list[float]
    groups_kept: int


def select_samples(
    rewards: list[list[float]],
    usable: list[list[bool]],
    positives: int,
    negatives: int,
    pass_rate_weighting: bool,
) -> Selection:
    """Drop groups whose samples are all correct or all wrong (they carry no contrast); from the others
    keep the first `positives` correct and `negatives` incorrect usable samples (samples are i.i.d., so the
    first ones are a fair draw). Advantages are RLOO over the whole group."""
    from agentkit.training.policy_gradient import rloo_advantages

    picks, correct, advantages, weights = [], [], [], []
    kept = 0
    for g, (group, ok) in enumerate(zip(rewards, usable, strict=True)):
        wins = [i for i, r in enumerate(group) if r > 0 and ok[i]][:positives]
        losses = [i for i, r in enumerate(group) if r <= 0 and ok[i]][:negatives]
        if not wins or not losses:
            continue
        kept += 1
        group_advantages = rloo_advantages(torch.tensor(group, dtype=torch.float64)).tolist()
        pass_rate = sum(r > 0 for r in group) / len(group)
        for index in wins + losses:
            picks.append((g, index))
            correct.append(group[index] > 0)
            advantages.append(group_advantages[index])
            weights.append(1.0 - pass_rate if pass_rate_weighting else 1.0)
    if pass_rate_weighting and weights:
        mean = sum(weights) / len(weights)
        weights = [w / mean for w in weights]
    return Selection(picks, correct, advantages, weights, kept)


# ---------------------------------------------------------------- model, data, sampling


class PolicyWithTokenReward(torch.nn.Module):
    """The LoRA policy and (optionally) the token reward head as one module, so one `accelerator.prepare`
    wraps both (DeepSpeed takes a single model)."""

    def __init__(self, policy, head=None):
        super().__init__()
        self.policy = policy
        self.head = head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        from agentkit.training.policy_gradient import token_logprobs

        hidden = self.head is not None
        out = self.policy(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=hidden)
        logprobs = token_logprobs(out.logits, input_ids)
        return logprobs, (self.head(out.hidden_states[-1]) if self.head is not None else None)


def resolve_model(config: OrealConfig) -> str:
    """`warmup` builds (once, cached) the SFT warm start; `preset:NAME` a random-init model; else a path."""
    if config.model == "warmup":
        from agentkit.training.warmup import warm_start

        w = config.warmup
        return str(
            warm_start(
                f"arithmetic-sft-{w.preset}",
                chats=warmup_chats(w.levels, w.per_level, config.data.style, w.seed),
                seed=w.seed,
                cache_dir=config.cache_dir,
                progress=False,
                **w.training(),
            )
        )
    if config.model.startswith("preset:"):
        from agentkit.models import make_tiny_model

        preset = config.model.split(":", 1)[1]
        folder = Path(config.cache_dir) / "models" / f"{preset}-seed{config.seed}"
        if not (folder / "config.json").is_file():
            make_tiny_model(folder, preset=preset, seed=config.seed)
        return str(folder)
    return config.model


@functools.cache
def arithmetic_task():
    """The packaged `arithmetic` benchmark task, loaded once (its prompt template is the one to train on)."""
    from agentkit.eval.tasks import get_task

    return get_task("arithmetic")


def prompt_messages(question: str) -> list[dict[str, str]]:
    """The `arithmetic` benchmark task's prompt, as one user message (as `generate_records` sends it)."""
    return [{"role": "user", "content": arithmetic_task().render_prompt({"question": question})}]


def warmup_chats(levels: list[int], per_level: int, style: str, seed: int) -> list[list[dict[str, str]]]:
    """Worked solutions of training problems as chats: the benchmark prompt, then the solution."""
    from agentkit.eval.arithmetic import generate_split

    rows = generate_split("train", levels=levels, per_level=per_level, seed=seed, style=style)
    return [[*prompt_messages(r["question"]), {"role": "assistant", "content": r["answer"]}] for r in rows]


def training_problems(config: OrealConfig) -> list[dict[str, Any]]:
    import random

    from agentkit.eval.arithmetic import generate_split

    d = config.data
    rows = generate_split("train", levels=d.levels, per_level=d.per_level, seed=d.seed, style=d.style)
    random.Random(config.seed).shuffle(rows)
    return rows


def step_problems(problems: list[dict[str, Any]], step: int, count: int, rank: int, world: int) -> list[dict]:
    """This rank's share of step `step`'s prompts, walking through the shuffled problems in order."""
    start = step * count + rank * (count // world)
    return [problems[(start + i) % len(problems)] for i in range(count // world)]


# ---------------------------------------------------------------- evaluation


def evaluate_policy(model: str, adapter: str | None, settings: EvalSettings, style: str, seed: int) -> dict[str, Any]:
    """Greedy accuracy and unbiased pass@k on held-out test problems, per level and overall."""
    from agentkit.eval.arithmetic import generate
    from agentkit.eval.metrics import pass_at_k
    from agentkit.reward_models.math_reward import math_reward
    from agentkit.rollout.backend import make_backend
    from agentkit.rollout.sampling import SamplingParams

    rows = [r for n in settings.levels for r in generate(n, settings.per_level, split="test", style=style)]
    prompts = [prompt_messages(r["question"]) for r in rows]
    answers = [r["answer"] for r in rows]
    with make_backend("hf", model, adapter, threads=settings.threads) as backend:
        greedy = backend.generate(prompts, SamplingParams(temperature=0.0, max_tokens=settings.max_tokens))
        e = settings
        sampled = backend.generate(prompts, SamplingParams(e.temperature, 1.0, e.max_tokens, e.samples, seed))
    greedy_ok = math_reward([c[0].text for c in greedy], answer=answers)
    counts = [
        int(sum(math_reward([c.text for c in group], answer=[a] * len(group))))
        for group, a in zip(sampled, answers, strict=True)
    ]

    def summary(indices: list[int]) -> dict[str, float]:
        out = {"greedy": sum(greedy_ok[i] for i in indices) / len(indices)}
        for k in settings.ks:
            out[f"pass@{k}"] = sum(pass_at_k(settings.samples, counts[i], k) for i in indices) / len(indices)
        return out

    by_level = {str(n): summary([i for i, r in enumerate(rows) if r["level"] == n]) for n in settings.levels}
    return {"problems": len(rows), **summary(list(range(len(rows)))), "by_level": by_level}


# ---------------------------------------------------------------- checkpoints


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Complete step checkpoints, oldest first."""
    return complete_checkpoints(run_dir / "checkpoints", "step")


def save_checkpoint(accelerator, module, run_dir: Path, step: int, history: list[dict], limit: int) -> Path:
    """Everything a resumed run needs after `step` steps: weights, optimizer, scheduler and RNG state
    (accelerate's state), the adapter the next samples come from, and the metrics so far."""
    folder = run_dir / "checkpoints" / f"step-{step}"
    accelerator.save_state(str(folder))
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(module)
        unwrapped.policy.save_pretrained(folder / "adapter")
        if unwrapped.head is not None:
            unwrapped.head.save(folder)
        partial = folder / "progress.json.partial"
        partial.write_text(json.dumps({"step": step, "history": history}))
        partial.replace(folder / "progress.json")
        mark_complete(folder)
        for old in checkpoint_dirs(run_dir)[:-limit]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return folder


# ---------------------------------------------------------------- training


def build_module(config: OrealConfig, model_path: str):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from agentkit.reward_models.token_reward import TokenRewardHead
    from agentkit.training.sft import peft_config

    torch.manual_seed(config.seed)  # every rank starts from the same adapter and head
    base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    policy = get_peft_model(base, peft_config(config.lora))
    head = TokenRewardHead(base.config.hidden_size) if config.loss.token_rm else None
    return PolicyWithTokenReward(policy, head)


def build_optimizer(config: OrealConfig, module: PolicyWithTokenReward):
    """AdamW with the policy and the reward head as separate groups; the policy's learning rate is 0 for
    the reward model's warm-up steps (then an optional linear warm-up), the head's is constant."""
    policy_params = [p for p in module.policy.parameters() if p.requires_grad]
    groups = [{"params": policy_params, "lr": config.optim.learning_rate}]
    if module.head is not None:
        groups.append({"params": list(module.head.parameters()), "lr": config.loss.rm_learning_rate})
    optimizer = torch.optim.AdamW(groups, weight_decay=config.optim.weight_decay)
    frozen = config.loss.rm_warmup_steps if module.head is not None else 0

    def policy_scale(step: int) -> float:
        if step < frozen:
            return 0.0
        return min(1.0, (step - frozen + 1) / (config.optim.warmup_steps + 1))

    lambdas = [policy_scale] + ([lambda _: 1.0] if module.head is not None else [])
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)


def clip_policy_gradients(accelerator, module, max_norm: float) -> float:
    """Clip the policy's gradient norm alone and return it. The reward head trains on another objective at
    its own rate; clipped together, its BCE gradient would shrink the policy's step whenever it is large."""
    policy = accelerator.unwrap_model(module).policy
    norm = accelerator.clip_grad_norm_([p for p in policy.parameters() if p.requires_grad], max_norm)
    return float(norm) if norm is not None else float("nan")  # DeepSpeed clips inside its engine


def train_step(config: OrealConfig, accelerator, module, tokenizer, groups, selection: Selection) -> dict[str, float]:
    """One update on the selected samples; returns the loss terms (this rank's values)."""
    from agentkit.reward_models.token_reward import token_reward_loss, token_weights
    from agentkit.training.policy_gradient import encode_groups, reference_logprobs

    picks = selection.picks
    row_weights = torch.tensor(selection.prompt_weights, dtype=torch.float32)
    correct = torch.tensor(selection.correct)
    if not picks:  # nothing to learn from here, but every rank must join the gradient sync
        picks, row_weights, correct = [(0, 0)], torch.zeros(1), torch.tensor([False])
    batch = encode_groups(tokenizer, groups, picks).to(accelerator.device)
    mask = batch.completion_mask
    logprobs, scores = module(batch.input_ids, batch.attention_mask)
    rows = row_weights.unsqueeze(-1).to(logprobs.device)
    if scores is not None:
        weights = token_weights(scores, mask, correct, config.loss.normalize_token_weights) * rows
        rm_loss = token_reward_loss(scores, mask, correct.float()) * float(bool(selection.picks))
    else:
        weights = rows.expand_as(logprobs)
        rm_loss = torch.zeros((), device=logprobs.device)
    positive_mask = mask * correct.unsqueeze(-1)
    negative_mask = mask * ~correct.unsqueeze(-1)
    advantages = torch.tensor(selection.advantages or [0.0], dtype=torch.float32, device=logprobs.device)
    terms = {"positive": positive_loss(logprobs, positive_mask, weights)}
    terms["negative"] = (
        negative_loss(logprobs, logprobs.detach(), advantages, negative_mask, weights)
        if config.loss.negative_weight > 0
        else torch.zeros((), device=logprobs.device)
    )
    if config.loss.kl_coef > 0:
        reference = reference_logprobs(accelerator.unwrap_model(module).policy, batch)
        terms["kl"] = kl_penalty(logprobs, reference, mask * (rows > 0))
    else:
        terms["kl"] = torch.zeros((), device=logprobs.device)
    c = config.loss
    policy_loss = terms["positive"] + c.negative_weight * terms["negative"] + c.kl_coef * terms["kl"]
    loss = policy_loss + rm_loss
    accelerator.backward(loss)
    grad_norm = clip_policy_gradients(accelerator, module, config.optim.max_grad_norm)
    return {
        **{name: float(value.detach()) for name, value in terms.items()},
        "token_rm": float(rm_loss.detach()),
        "loss": float(policy_loss.detach()),
        "grad_norm": grad_norm,
    }


def train(config: OrealConfig, accelerator, model_path: str, run_dir: Path) -> list[dict[str, Any]]:
    from agentkit.models import load_tokenizer
    from agentkit.reward_models.math_reward import math_reward
    from agentkit.rollout.backend import make_backend
    from agentkit.rollout.sampling import SamplingParams
    from agentkit.training.policy_gradient import sample_groups

    world, rank = accelerator.num_processes, accelerator.process_index
    s = config.sampling
    if s.prompts_per_step % world:
        raise ConfigError(f"sampling.prompts_per_step={s.prompts_per_step} must divide by {world} processes")
    tokenizer = load_tokenizer(model_path)
    module = build_module(config, model_path)
    optimizer, scheduler = build_optimizer(config, module)
    module, optimizer = accelerator.prepare(module, optimizer)
    # Not prepared: accelerate steps a prepared scheduler once per process, which would shorten the frozen
    # warm-up under several processes; one optimizer step is one scheduler step here.
    accelerator.register_for_checkpointing(scheduler)
    history: list[dict[str, Any]] = []
    keep = config.optim.save_total_limit
    resume = last_checkpoint(run_dir / "checkpoints", "step")
    if resume is not None:
        accelerator.load_state(str(resume))
        progress = json.loads((resume / "progress.json").read_text())
        history = progress["history"]
        adapter = resume / "adapter"
        accelerator.print(f"resumed from {resume} (step {progress['step']})")
    else:
        adapter = save_checkpoint(accelerator, module, run_dir, 0, history, keep) / "adapter"
    problems = training_problems(config)
    backend_kwargs = {"threads": s.threads} if s.backend == "hf" else {}
    backend = make_backend(s.backend, model_path, str(adapter), **backend_kwargs)
    try:
        for step in range(len(history), config.optim.steps):
            started = time.perf_counter()
            rows = step_problems(problems, step, s.prompts_per_step, rank, world)
            seed = config.seed + 1000 * step + rank
            params = SamplingParams(s.temperature, s.top_p, s.max_tokens, s.samples_per_prompt, seed)
            prompts = [prompt_messages(r["question"]) for r in rows]
            groups = sample_groups(backend, prompts, [r["answer"] for r in rows], params, math_reward)
            selection = select_samples(
                [g.rewards for g in groups],
                [[g.usable(i) for i in range(len(g.completions))] for g in groups],
                config.loss.positives_per_prompt,
                config.loss.negatives_per_prompt,
                config.loss.pass_rate_weighting,
            )
            module.train()
            terms = train_step(config, accelerator, module, tokenizer, groups, selection)
            policy_lr = scheduler.get_last_lr()[0]  # the rate this step's update uses
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            stats = torch.tensor(
                [
                    sum(sum(r > 0 for r in g.rewards) for g in groups),
                    sum(len(g.rewards) for g in groups),
                    selection.groups_kept,
                    len(groups),
                    len(selection.picks),
                ],
                dtype=torch.float64,
                device=accelerator.device,
            )
            correct, samples, kept, prompts, trained = accelerator.reduce(stats, reduction="sum").tolist()
            record = {
                "step": step + 1,
                **terms,
                "pass_rate": correct / samples,
                "prompts_kept": kept / prompts,
                "samples_drawn": int(samples),
                "samples_selected": int(trained),
                "policy_lr": policy_lr,
                "seconds": time.perf_counter() - started,
            }
            history.append(record)
            accelerator.log({k: v for k, v in record.items() if isinstance(v, int | float)}, step=step + 1)
            accelerator.print(
                f"step {step + 1}/{config.optim.steps} loss {record['loss']:.4f} "
                f"pos {record['positive']:.4f} "
                f"neg {record['negative']:.4f} kl {record['kl']:.5f} rm {record['token_rm']:.4f} "
                f"pass {record['pass_rate']:.3f} kept {record['prompts_kept']:.2f} {record['seconds']:.1f}s"
            )
            folder = save_checkpoint(accelerator, module, run_dir, step + 1, history, keep)
            backend.load_adapter(str(folder / "adapter"))
    finally:
        backend.close()
    if accelerator.is_main_process:
        final = checkpoint_dirs(run_dir)[-1]
        shutil.copytree(final / "adapter", run_dir / "adapter", dirs_exist_ok=True)
        if config.loss.token_rm:
            shutil.copy(final / "token_reward_head.pt", run_dir / "token_reward_head.pt")
    accelerator.wait_for_everyone()
    return history


# ---------------------------------------------------------------- report


def write_report(config: OrealConfig, run_dir: Path, history: list[dict], evaluations: dict[str, dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = {"train": history, "eval": evaluations}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    steps = [h["step"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    for term in ("loss", "positive", "negative", "kl", "token_rm"):
        left.plot(steps, [h[term] for h in history], label=term)
    left.set_xlabel("step")
    left.set_title("loss terms")
    left.legend(fontsize=7)
    right.plot(steps, [h["pass_rate"] for h in history], label="sample pass rate")
    right.plot(steps, [h["prompts_kept"] for h in history], label="prompts kept")
    right.set_xlabel("step")
    right.set_ylim(0, 1)
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run_dir / "loss.png", dpi=120)
    plt.close(fig)
    ks = [f"pass@{k}" for k in config.eval.ks]
    lines = [
        "# OREAL on procedural arithmetic",
        "",
        f"Model `{config.model}`, {len(history)} steps of {config.sampling.prompts_per_step} prompts x "
        f"{config.sampling.samples_per_prompt} samples; negative weight {config.loss.negative_weight}, "
        f"KL {config.loss.kl_coef}, token RM {'on' if config.loss.token_rm else 'off'}.",
        "",
    ]
    if evaluations:
        lines += [
            f"Held-out test problems, levels {config.eval.levels}, {config.eval.samples} samples each "
            f"(temperature {config.eval.temperature}) for pass@k:",
            "",
            "| policy | problems | greedy | " + " | ".join(ks) + " |",
            "|---|---|---|" + "---|" * len(ks),
        ]
        for name, ev in evaluations.items():
            cells = " | ".join(f"{ev[k]:.3f}" for k in ks)
            lines.append(f"| {name} | {ev['problems']} | {ev['greedy']:.3f} | {cells} |")
    else:
        lines.append("(evaluation skipped)")
    (run_dir / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> None:
    from accelerate import Accelerator

    config = parse_recipe_args(OrealConfig, argv)
    run_dir = Path(config.output_dir)
    accelerator = Accelerator(
        cpu=not torch.accelerator.is_available(), log_with=config.report_to or None, project_dir=str(run_dir / "tb")
    )
    accelerator.init_trackers("oreal")
    with accelerator.main_process_first():  # rank 0 builds the warm start; the others then read it
        if accelerator.is_main_process:
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, run_dir / "config.yaml")
        model_path = resolve_model(config)
    history = train(config, accelerator, model_path, run_dir)
    accelerator.end_training()
    if not accelerator.is_main_process:
        return
    evaluations: dict[str, dict] = {}
    if not config.skip_eval:
        e = config.eval
        if e.include_start:
            evaluations["start"] = evaluate_policy(model_path, None, e, config.data.style, config.seed)
        adapter = str(run_dir / "adapter")
        evaluations["oreal"] = evaluate_policy(model_path, adapter, e, config.data.style, config.seed)
    write_report(config, run_dir, history, evaluations)
    print_report(run_dir)


if __name__ == "__main__":
    sys.exit(run_recipe("oreal", main, sys.argv[1:]))
