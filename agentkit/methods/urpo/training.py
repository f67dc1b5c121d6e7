"""URPO's GRPO run: one TRL trainer over the mixed batches, the policy scoring open-ended answers."""

from __future__ import annotations

import time
from pathlib import Path

from agentkit.methods.urpo.config import URPOConfig
from agentkit.methods.urpo.mixing import for_kind, train_rows


def grpo_args(config: URPOConfig, output_dir: str | Path, cpu: bool):
    """TRL's GRPOConfig: agentkit's CPU-safe settings plus the `grpo.trl` options."""
    from trl import GRPOConfig

    from agentkit.training.sft import with_trl_options

    settings = config.grpo
    values = dict(
        output_dir=str(output_dir),
        max_steps=settings.steps,
        per_device_train_batch_size=settings.prompts_per_step * settings.num_generations,
        num_generations=settings.num_generations,
        learning_rate=settings.learning_rate,
        max_completion_length=settings.max_completion_length,
        temperature=settings.temperature,
        beta=settings.beta,
        shuffle_dataset=False,  # the rows are already in mixed batches
        logging_steps=settings.logging_steps,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=2,
        seed=config.seed,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=cpu,
        report_to=settings.report_to or "none",
        dataloader_num_workers=0,
    )
    return GRPOConfig(**with_trl_options(GRPOConfig, values, settings.trl))


def train(config: URPOConfig, model_path: str, run_dir: Path, cpu: bool):
    """GRPO over the mixed batches; returns the trainer (its model is the trained policy) and figures."""
    from datasets import Dataset
    from trl import GRPOTrainer

    from agentkit.methods.urpo.referee import Referee, make_ranking_reward, make_referee_reward
    from agentkit.models import load_tokenizer
    from agentkit.reward_models.math_reward import math_reward
    from agentkit.training.checkpoints import train_resumably
    from agentkit.training.sft import peft_config

    settings = config.referee
    tokenizer = load_tokenizer(model_path)
    referee_kwargs = dict(low=settings.low, high=settings.high, max_new_tokens=settings.max_new_tokens)
    if settings.mode == "frozen":
        referee = Referee.frozen(model_path, **referee_kwargs)
    else:
        referee = Referee(None, tokenizer, **referee_kwargs)  # the policy itself, set once the trainer exists
    rewards = [
        for_kind("verifiable", math_reward),
        for_kind("ranking", make_ranking_reward(settings.ranking_metric, settings.format_bonus)),
        for_kind("open", make_referee_reward(referee)),
    ]
    checkpoints = run_dir / "checkpoints"
    trainer = GRPOTrainer(
        model=model_path,
        reward_funcs=rewards,
        args=grpo_args(config, checkpoints, cpu),
        train_dataset=Dataset.from_list(train_rows(config)),
        processing_class=tokenizer,
        peft_config=peft_config(config.lora, model_path),
    )
    if settings.mode == "self":
        referee.model = trainer.model
    started = time.perf_counter()
    result, _ = train_resumably(trainer)
    trainer.save_model(str(config.lora.output_folder(run_dir)))
    history = [entry for entry in trainer.state.log_history if "reward" in entry]
    figures = {
        "global_steps": result.global_step,
        "train_seconds": time.perf_counter() - started,
        "referee_replies": referee.replies,
        "referee_unparsed_scores": referee.unparsed,
        "history": history,
    }
    return trainer, referee, figures
