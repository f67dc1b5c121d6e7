"""OREAL's training loop: sample K per prompt, select, one update of policy and token reward model."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from agentkit.config import ConfigError
from agentkit.methods.oreal.config import OrealConfig
from agentkit.methods.oreal.data import prompt_messages, step_problems, training_problems
from agentkit.methods.oreal.loss import kl_penalty, negative_loss, positive_loss
from agentkit.methods.oreal.selection import Selection, select_samples
from agentkit.training.run import checkpoint_dirs, finish_step, resume_checkpoint, save_checkpoint


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


def export_policy(accelerator, module) -> Callable[[Path], None]:
    """What a checkpoint holds beside accelerate's state: the adapter the next samples come from and the
    token reward head."""

    def export(folder: Path) -> None:
        unwrapped = accelerator.unwrap_model(module)
        unwrapped.policy.save_pretrained(folder / "adapter")
        if unwrapped.head is not None:
            unwrapped.head.save(folder)

    return export


def build_module(config: OrealConfig, model_path: str):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from agentkit.methods.oreal.token_reward import TokenRewardHead
    from agentkit.training.sft import peft_config

    torch.manual_seed(config.seed)  # every rank starts from the same adapter and head
    base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    policy = get_peft_model(base, peft_config(config.lora, base))
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
    from agentkit.methods.oreal.policy_gradient import encode_groups
    from agentkit.methods.oreal.token_reward import token_reward_loss, token_weights
    from agentkit.training.policy_gradient import reference_logprobs

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
    from agentkit.methods.oreal.policy_gradient import sample_groups
    from agentkit.models import load_tokenizer
    from agentkit.reward_models.math_reward import math_reward
    from agentkit.rollout.backend import make_backend
    from agentkit.rollout.sampling import SamplingParams

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
    keep = config.optim.save_total_limit
    export = export_policy(accelerator, module)
    last, history = resume_checkpoint(accelerator, run_dir)
    if last is None:
        last = save_checkpoint(accelerator, run_dir, 0, history, keep, export)
    adapter = last / "adapter"
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
            line = (
                f"step {step + 1}/{config.optim.steps} loss {record['loss']:.4f} "
                f"pos {record['positive']:.4f} "
                f"neg {record['negative']:.4f} kl {record['kl']:.5f} rm {record['token_rm']:.4f} "
                f"pass {record['pass_rate']:.3f} kept {record['prompts_kept']:.2f} {record['seconds']:.1f}s"
            )
            finish_step(accelerator, run_dir, step + 1, history, record, line, (keep, export), backend)
    finally:
        backend.close()
    if accelerator.is_main_process:
        final = checkpoint_dirs(run_dir)[-1]
        shutil.copytree(final / "adapter", run_dir / "adapter", dirs_exist_ok=True)
        if config.loss.token_rm:
            shutil.copy(final / "token_reward_head.pt", run_dir / "token_reward_head.pt")
    accelerator.wait_for_everyone()
    return history
