"""Agent GRPO's loop: play G episodes per task with the current adapter, score them, update, hot-swap the adapter."""

from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from accelerate import DistributedType

from agentkit.config import ConfigError
from agentkit.methods.agent_grpo.advantages import task_advantages
from agentkit.methods.agent_grpo.config import AgentGRPOConfig
from agentkit.methods.agent_grpo.decisions import Decision, decision_batch, episode_decisions
from agentkit.methods.agent_grpo.loss import importance_ratio, policy_loss
from agentkit.methods.agent_grpo.rewards import outcome_function
from agentkit.rollout.adapters import AdapterError, adapter_ref
from agentkit.rollout.engine import Task
from agentkit.training.policy_gradient import CompletionBatch, picked_logprobs, reference_logprobs
from agentkit.training.run import checkpoint_dirs, finish_step, resume_checkpoint, save_checkpoint
from agentkit.trajectory import Episode


def build_policy(config: AgentGRPOConfig, model_path: str):
    """The trainable PEFT policy: the start adapter on the base model, or a fresh adapter of `config.lora`."""
    from peft import PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from agentkit.training.sft import peft_config

    torch.manual_seed(config.seed)  # every rank starts from the same adapter
    base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    if config.start_adapter is not None:
        return PeftModel.from_pretrained(base, config.start_adapter, is_trainable=True)
    return get_peft_model(base, peft_config(config.lora, base))


def iteration_groups(
    tasks: Sequence[Task], config: AgentGRPOConfig, iteration: int, rank: int, world: int
) -> list[Task]:
    """This rank's share of the iteration's tasks (cycling through the training tasks), each repeated G times
    with the same seed, so a task's G episodes start from the same state and sit next to each other."""
    s = config.sampling
    start = iteration * s.tasks_per_iteration
    chosen = [tasks[(start + k) % len(tasks)] for k in range(s.tasks_per_iteration)][rank::world]
    return [task for task in chosen for _ in range(s.episodes_per_task)]


def check_played_with(episodes: Sequence[Episode], expected: str) -> None:
    """Raise unless every episode was played with the adapter of digest `expected` (the engine's record)."""
    for episode in episodes:
        digest = (episode.meta.get("adapter") or {}).get("digest")
        if digest != expected:
            raise AdapterError(
                f"episode {episode.task_id} was played with adapter {str(digest)[:12]}, not the newest "
                f"{expected[:12]}: the engine did not take the updated weights"
            )


def policy_forward(model, batch: CompletionBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-token log-probs with gradients, per-token entropy of the policy, no gradients), aligned with
    `input_ids` (B, T)."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    log_p = logits[:, :-1].float().log_softmax(-1)  # once over the vocabulary, for both
    with torch.no_grad():
        entropy = torch.nn.functional.pad(-(log_p.exp() * log_p).sum(-1), (1, 0))
    return picked_logprobs(log_p, batch.input_ids), entropy


def _chunks(items: Sequence[Any], count: int) -> list[list[Any]]:
    """`items` in `count` contiguous chunks of near-equal size (some empty when there are fewer items)."""
    size = math.ceil(len(items) / count) if items else 0
    return [list(items[k * size : (k + 1) * size]) for k in range(count)]


def update(
    config: AgentGRPOConfig, accelerator, model, optimizer, decisions: list[Decision], pad_id: int, iteration: int
) -> dict[str, float]:
    """`optim.epochs` passes over the decisions in `optim.minibatches` optimizer steps each. Every process
    runs the same number of forward passes (empty ones weigh nothing), as the gradient sync requires; under
    DeepSpeed a minibatch is one pass (`optim.micro_batch` is not applied).

    The loss of a minibatch is its per-token loss summed over the agent's tokens and divided by their count.
    `ratio_deviation` is the largest |ratio - 1| of the first minibatch of the iteration, taken before any
    step: the policy is then the sampler, so it measures how exactly the stored tokens and log-probs match.
    """
    o = config.optim
    local = torch.tensor([math.ceil(len(decisions) / o.minibatches)], device=accelerator.device)
    passes = max(1, math.ceil(int(accelerator.reduce(local, reduction="max").item()) / o.micro_batch))
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        passes = 1  # a DeepSpeed engine steps at every backward: one pass per minibatch and process
    empty = Decision([pad_id], [pad_id], [0.0], 0.0)
    policy = accelerator.unwrap_model(model)
    sums = {"loss": 0.0, "kl": 0.0, "entropy": 0.0, "clipped": 0.0, "tokens": 0.0}
    ratio_deviation, grad_norms = 0.0, []
    order = list(decisions)
    rng = random.Random(config.seed * 100_003 + iteration)
    model.train()
    for epoch in range(o.epochs):
        rng.shuffle(order)
        for m, minibatch in enumerate(_chunks(order, o.minibatches)):
            tokens = max(1, sum(len(d.token_ids) for d in minibatch))
            for part in _chunks(minibatch, passes):
                batch, sampled, advantages = decision_batch(part or [empty], pad_id)
                batch, sampled, advantages = (x.to(accelerator.device) for x in (batch, sampled, advantages))
                mask = batch.completion_mask * float(bool(part))
                logprobs, entropy = policy_forward(model, batch)
                reference = reference_logprobs(policy, batch) if o.kl_coef > 0 else None
                per_token, kl = policy_loss(logprobs, sampled, reference, advantages, mask, o.clip_epsilon, o.kl_coef)
                accelerator.backward(per_token.sum() / tokens)
                ratio = importance_ratio(logprobs.detach(), sampled)
                on = mask.bool()
                if epoch == 0 and m == 0 and on.any():
                    ratio_deviation = max(ratio_deviation, float((ratio[on] - 1).abs().max()))
                sums["loss"] += float(per_token.detach().sum())
                sums["kl"] += float(kl.detach().sum())
                sums["entropy"] += float((entropy * mask).sum())
                sums["clipped"] += float(((ratio - 1).abs()[on] > o.clip_epsilon).sum())
                sums["tokens"] += float(mask.sum())
            params = [p for p in model.parameters() if p.requires_grad]
            norm = accelerator.clip_grad_norm_(params, o.max_grad_norm) if o.max_grad_norm > 0 else None
            grad_norms.append(float(norm) if norm is not None else float("nan"))
            optimizer.step()
            optimizer.zero_grad()
    totals = accelerator.reduce(torch.tensor(list(sums.values()), dtype=torch.float64, device=accelerator.device))
    named = dict(zip(sums, totals.tolist(), strict=True))
    count = max(named.pop("tokens"), 1.0)
    deviation = torch.tensor([ratio_deviation], device=accelerator.device)
    return {
        **{name: value / count for name, value in named.items()},
        "tokens_trained": count,
        "grad_norm": sum(grad_norms) / len(grad_norms),
        "ratio_deviation": float(accelerator.reduce(deviation, reduction="max").item()),
    }


def sample_episodes(
    config: AgentGRPOConfig, env_factory: Callable[[], Any], backend, tasks: list[Task], path: Path, seed: int
) -> tuple[list[Episode], Any]:
    """Play `tasks` in envs of `env_factory` with the backend's current adapter, the replies written as text
    (their token ids and log-probs kept), every episode written to `path` afresh for the viewer."""
    from agentkit.rollout.engine import ModelAgent, rollout
    from agentkit.rollout.sampling import SamplingParams
    from agentkit.trajectory import TrajectoryWriter

    s = config.sampling
    torch.manual_seed(seed)  # the HF sampler draws from torch's generator; a vLLM engine has its own seed
    agent = ModelAgent(backend, SamplingParams(s.temperature, s.top_p, s.max_tokens), "text")
    path.unlink(missing_ok=True)  # an interrupted iteration is played again from its start
    with TrajectoryWriter(path) as writer:
        return rollout(
            env_factory,
            tasks,
            agent,
            num_envs=s.num_envs,
            prompt_format=config.prompt,
            writer=writer,
            description=path.stem,
        )


def advantages_by_group(config: AgentGRPOConfig, episodes: list[Episode], reward) -> list[list[float]]:
    """Per episode, per step advantages, each task's G consecutive episodes forming one group."""
    a, size = config.advantage, config.sampling.episodes_per_task
    advantages = []
    for start in range(0, len(episodes), size):
        group = episodes[start : start + size]
        advantages += task_advantages(group, reward, a.estimator, config.reward.step_rewards, a.omega, a.gamma, a.scale)
    return advantages


def make_sampler(config: AgentGRPOConfig, model_path: str, adapter: Path, rank: int, lora_rank: int):
    """The rollout backend, sampling with `adapter` from the start."""
    from agentkit.rollout.backend import make_backend

    s = config.sampling
    if s.backend == "hf":
        kwargs = {"threads": s.threads}
    else:
        kwargs = {"seed": config.seed + rank, "max_lora_rank": max(16, lora_rank), "max_model_len": 4096}
    return make_backend(s.backend, model_path, str(adapter), **kwargs, **s.engine_kwargs)


def export_adapter(accelerator, model) -> Callable[[Path], None]:
    """What a checkpoint holds beside accelerate's state: the adapter the next episodes are played with."""

    def export(folder: Path) -> None:
        accelerator.unwrap_model(model).save_pretrained(folder / "adapter")

    return export


def train(config: AgentGRPOConfig, accelerator, model_path: str, run_dir: Path) -> list[dict[str, Any]]:
    """Every iteration of the algorithm box (see the package docstring); returns the metrics per iteration.
    The run resumes from its newest checkpoint; the final adapter is copied to `run_dir/adapter`."""
    from agentkit.models import load_tokenizer

    world, rank = accelerator.num_processes, accelerator.process_index
    s = config.sampling
    if s.tasks_per_iteration % world:
        raise ConfigError(f"sampling.tasks_per_iteration={s.tasks_per_iteration} must divide by {world} processes")
    tokenizer = load_tokenizer(model_path)
    reward = outcome_function(config.reward.outcome)
    model = build_policy(config, model_path)
    lora_rank = int(model.peft_config["default"].r)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.optim.learning_rate, weight_decay=0.0)
    model, optimizer = accelerator.prepare(model, optimizer)
    keep = config.optim.save_total_limit
    export = export_adapter(accelerator, model)
    last, history = resume_checkpoint(accelerator, run_dir)
    if last is None:
        last = save_checkpoint(accelerator, run_dir, 0, history, keep, export)
    tasks = config.env.train_tasks(config.seed)
    if not tasks:
        raise ConfigError(f"env.train_kwargs={config.env.train_kwargs}: no training tasks")
    (run_dir / "episodes").mkdir(exist_ok=True)
    suffix = f"-rank{rank}" if world > 1 else ""
    env_factory = config.env.factory(config.env.train_kwargs)
    backend = make_sampler(config, model_path, last / "adapter", rank, lora_rank)
    try:
        for iteration in range(len(history), config.optim.iterations):
            started = time.perf_counter()
            expected = adapter_ref(last / "adapter").digest
            path = run_dir / "episodes" / f"iteration-{iteration + 1}{suffix}.jsonl"
            group_tasks = iteration_groups(tasks, config, iteration, rank, world)
            seed = config.seed + 1000 * iteration + rank
            episodes, stats = sample_episodes(config, env_factory, backend, group_tasks, path, seed)
            check_played_with(episodes, expected)
            advantages = advantages_by_group(config, episodes, reward)
            decisions = episode_decisions(tokenizer, episodes, advantages, config.prompt)
            rolled = time.perf_counter()
            terms = update(config, accelerator, model, optimizer, decisions, tokenizer.pad_token_id, iteration)
            counts = torch.tensor(
                [len(episodes), sum(e.success for e in episodes), sum(reward(e) for e in episodes),
                 sum(e.steps for e in episodes), len(decisions), stats.generated_tokens, stats.seconds],
                dtype=torch.float64, device=accelerator.device,
            )  # fmt: skip
            n, wins, rewards, steps, trained, generated, rollout_seconds = accelerator.reduce(counts).tolist()
            record = {
                "iteration": iteration + 1,
                "episodes": int(n),
                "success_rate": wins / n,
                "mean_reward": rewards / n,
                "mean_steps": steps / n,
                "decisions": int(trained),
                "generated_tokens": int(generated),
                **terms,
                "adapter": expected[:12],
                "rollout_seconds": rolled - started,
                "episodes_per_second": n / max(rollout_seconds / world, 1e-9),
                "seconds": time.perf_counter() - started,
            }
            line = (
                f"iteration {iteration + 1}/{config.optim.iterations} success {record['success_rate']:.3f} "
                f"reward {record['mean_reward']:.3f} loss {record['loss']:.4f} kl {record['kl']:.5f} "
                f"entropy {record['entropy']:.3f} ratio-1 {record['ratio_deviation']:.1e} "
                f"{record['decisions']} decisions {record['seconds']:.1f}s"
            )  # the next iteration checks that its episodes used the adapter pushed here
            last = finish_step(accelerator, run_dir, iteration + 1, history, record, line, (keep, export), backend)
    finally:
        backend.close()
    if accelerator.is_main_process:
        shutil.copytree(checkpoint_dirs(run_dir)[-1] / "adapter", run_dir / "adapter", dirs_exist_ok=True)
    accelerator.wait_for_everyone()
    return history
