"""What every SFT-style recipe shares: the training settings, the LoRA settings, and TRL's trainer built
from them with CPU-safe defaults (TRL defaults to bf16 and gradient checkpointing, both slow on CPU)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class LoraSettings:
    """`full_finetune=True` trains every weight instead of an adapter."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    full_finetune: bool = False


@dataclass
class TrainSettings:
    learning_rate: float = 2e-3
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    lr_scheduler: str = "cosine"
    max_length: int = 1024
    padding_free: bool = True
    bf16: bool = False
    logging_steps: int = 5
    save_steps: int = 50
    save_total_limit: int = 2
    seed: int = 0
    report_to: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate={self.learning_rate} must be > 0")
        if self.batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError("batch_size and gradient_accumulation_steps must be >= 1")


def peft_config(lora: LoraSettings):
    from peft import LoraConfig

    if lora.full_finetune:
        return None
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )


def sft_args(train: TrainSettings, output_dir: str | Path, **overrides: Any):
    """TRL's SFTConfig for pre-tokenized `input_ids` + `labels` datasets."""
    from trl import SFTConfig

    values: dict[str, Any] = dict(
        output_dir=str(output_dir),
        learning_rate=train.learning_rate,
        num_train_epochs=train.epochs,
        max_steps=train.max_steps,
        per_device_train_batch_size=train.batch_size,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        warmup_steps=train.warmup_ratio,  # a float below 1 is a share of the total steps
        weight_decay=train.weight_decay,
        lr_scheduler_type=train.lr_scheduler,
        logging_steps=train.logging_steps,
        save_strategy="steps",
        save_steps=train.save_steps,
        save_total_limit=train.save_total_limit,
        seed=train.seed,
        data_seed=train.seed,
        bf16=train.bf16,
        gradient_checkpointing=False,
        padding_free=train.padding_free,
        max_length=None if train.padding_free else train.max_length,
        report_to=train.report_to or "none",
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    values.update(overrides)
    return SFTConfig(**values)


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest `checkpoint-N` folder of a run, to resume from; None for a fresh run."""
    folders = [p for p in Path(output_dir).glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return str(max(folders, key=lambda p: int(p.name.split("-")[-1]))) if folders else None


def loss_history(trainer) -> list[tuple[int, float]]:
    """(step, training loss) pairs from the trainer's log."""
    return [(entry["step"], entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]
