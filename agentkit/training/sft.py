"""What every SFT-style recipe shares: the training settings, the LoRA settings, and TRL's trainer built
from them with CPU-safe defaults (TRL defaults to bf16 and gradient checkpointing; on a CPU without bfloat16
instructions both are slow)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass
class AdapterConfig:
    """`full_finetune=True` trains every weight instead of an adapter. `layers`: adapters on the model's last
    N transformer layers only (None: all); the backward pass then stops at the lowest adapted layer, so a
    step costs far less on a CPU, and the top layers are where a pretrained model's behaviour is steered."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    full_finetune: bool = False
    layers: int | None = None

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"r={self.r} must be >= 1")
        if self.layers is not None and self.layers < 1:
            raise ValueError(f"layers={self.layers} must be None or >= 1")
        if not self.alpha > 0:
            raise ValueError(f"alpha={self.alpha} must be > 0")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")
        if not self.target_modules and not self.full_finetune:
            raise ValueError("target_modules=[] must name at least one module")

    def output_folder(self, parent: str | Path) -> Path:
        """Where training writes its result: `model/` for a full fine-tune, `adapter/` for LoRA."""
        return Path(parent) / ("model" if self.full_finetune else "adapter")

    def backend_model(self, base: str, trained: str | Path) -> tuple[str, str | None]:
        """(model, adapter) that load a trained result: a full fine-tune is a model of its own, an adapter
        goes on its base."""
        return (str(trained), None) if self.full_finetune else (base, str(trained))


@dataclass
class TrainConfig:
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
    bf16: bool | Literal["auto"] = False  # mixed precision; `auto`: where bfloat16 is fast (`agentkit.precision`)
    logging_steps: int = 5
    save_steps: int = 50
    save_total_limit: int = 2
    seed: int = 0
    report_to: list[str] = field(default_factory=list)
    # Any other option of TRL's SFTConfig, under TRL's own name (e.g. neftune_noise_alpha: 5).
    trl: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Every value is checked here, at load: a bad one would otherwise train nothing and report success,
        or fail with a traceback minutes into the run."""
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate={self.learning_rate} must be a finite number > 0")
        if self.max_steps <= 0 and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ValueError(f"epochs={self.epochs} must be > 0 (or set max_steps > 0)")
        for name in ("batch_size", "gradient_accumulation_steps", "max_length", "logging_steps", "save_steps",
                     "save_total_limit"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio={self.warmup_ratio} must be in [0, 1)")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay={self.weight_decay} must be a finite number >= 0")
        schedulers = scheduler_names()
        if self.lr_scheduler not in schedulers:
            raise ValueError(f"lr_scheduler={self.lr_scheduler!r} must be one of {', '.join(schedulers)}")
        if self.trl:  # checked by building TRL's config now, not when training starts
            try:
                sft_args(self, "trl-check", use_cpu=True)
            except (ValueError, TypeError) as exc:
                raise ValueError(str(exc) if str(exc).startswith("trl.") else f"trl: {exc}") from exc


def scheduler_names() -> list[str]:
    """The learning-rate schedules transformers' trainers know by name."""
    from transformers.trainer_utils import SchedulerType

    return [schedule.value for schedule in SchedulerType]


def peft_config(lora: AdapterConfig, model: Any = None):
    """PEFT's LoraConfig for `lora` (None for a full fine-tune). `model` (a folder, hub name or loaded model)
    gives the layer count when `lora.layers` adapts only the last layers."""
    from peft import LoraConfig

    if lora.full_finetune:
        return None
    layers = None
    if lora.layers is not None:
        from transformers import AutoConfig, PretrainedConfig

        if model is None:
            raise ValueError("lora.layers needs the model to count its layers")
        config = getattr(model, "config", None)
        config = config if isinstance(config, PretrainedConfig) else AutoConfig.from_pretrained(str(model))
        total = config.num_hidden_layers
        layers = list(range(max(0, total - lora.layers), total))
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )


def model_init_kwargs(train: TrainConfig) -> dict[str, Any]:
    """How to load the model for `train`: padding-free batches get the per-sequence varlen attention, since
    transformers' CPU sdpa path would attend over the whole packed row under a block-diagonal mask. The
    attention name is not saved in `config.json`, so trained models load and generate with plain HF or
    vLLM."""
    if not train.padding_free:
        return {}
    from agentkit.training.varlen_attention import register_varlen_attention

    return {"attn_implementation": register_varlen_attention()}


def sft_args(train: TrainConfig, output_dir: str | Path, **overrides: Any):
    """TRL's SFTConfig for pre-tokenized `input_ids` + `labels` datasets."""
    from trl import SFTConfig

    from agentkit.precision import bf16_is_fast

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
        bf16=bf16_is_fast() if train.bf16 == "auto" else train.bf16,
        gradient_checkpointing=False,
        padding_free=train.padding_free,
        model_init_kwargs=model_init_kwargs(train) or None,
        max_length=None if train.padding_free else train.max_length,
        report_to=train.report_to or "none",
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    return SFTConfig(**with_trl_options(SFTConfig, {**values, **overrides}, train.trl))


def with_trl_options(cls: type, values: dict[str, Any], trl: dict[str, Any]) -> dict[str, Any]:
    """`values` (what agentkit sets, CPU-safe) plus a config's `trl:` options for TRL's config class `cls`.

    An unknown option, or one agentkit already sets from its own fields, is an error naming it."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(cls)}
    for name in trl:
        if name not in known:
            raise ValueError(f"trl.{name} is not an option of TRL's {cls.__name__}")
        if name in values:
            raise ValueError(f"trl.{name}: agentkit sets it from its own settings; set it there")
    return {**values, **trl}


def loss_history(trainer) -> list[tuple[int, float]]:
    """(step, training loss) pairs from the trainer's log."""
    return [(entry["step"], entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]


def _weighted_collator(base):
    """Wrap TRL's collator so a `loss_weights` column is flattened or padded exactly like `labels`."""
    import torch

    def collate(examples: list[dict[str, Any]]) -> dict[str, Any]:
        weights = [torch.tensor(example.pop("loss_weights"), dtype=torch.float32) for example in examples]
        batch = base(examples)
        width = batch["labels"].shape[1]
        rows = [torch.cat(weights)] if batch["labels"].shape[0] == 1 else weights
        padded = torch.zeros(len(rows), width)
        for index, row in enumerate(rows):
            padded[index, : len(row)] = row
        batch["loss_weights"] = padded
        return batch

    return collate


def weighted_token_loss(logits, labels, weights):
    """Mean over trained tokens of weight x next-token NLL (labels -100 are not trained)."""
    import torch.nn.functional as F

    target = labels[:, 1:].reshape(-1)
    nll = F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(), target, reduction="none", ignore_index=-100
    )
    trained = target != -100
    return (nll * weights[:, 1:].reshape(-1) * trained).sum() / trained.sum().clamp(min=1)


def _weighted_trainer_class():
    from trl import SFTTrainer

    class WeightedSFTTrainer(SFTTrainer):
        """SFT whose loss weighs each token by the batch's `loss_weights` (thought cloning's w)."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            weights = inputs.pop("loss_weights")
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            loss = weighted_token_loss(outputs.logits, labels, weights.to(outputs.logits.device))
            return (loss, outputs) if return_outputs else loss

    return WeightedSFTTrainer


def train_on_episodes(
    model: str,
    episodes: list,
    prompt_format,
    lora: AdapterConfig,
    train: TrainConfig,
    run_dir: str | Path,
    out: str | Path,
    *,
    cpu: bool,
    thought_weight: float | None = None,
    init_adapter: str | Path | None = None,
) -> dict[str, Any]:
    """SFT on every trained decision of `episodes` (their `loss` flags), saved to `out`.

    Resumes from the newest complete checkpoint under `run_dir/checkpoints`. `thought_weight` weighs the thought
    tokens of each reply against its action tokens (thought cloning); `init_adapter` continues training an
    existing LoRA adapter instead of starting a new one (iterative recipes such as Agent-R).
    """
    import time

    from trl import SFTTrainer

    from agentkit.models import load_tokenizer
    from agentkit.training.checkpoints import train_resumably
    from agentkit.training.data import samples_dataset

    tokenizer = load_tokenizer(model)
    dataset, dropped, decisions = samples_dataset(tokenizer, episodes, prompt_format, train.max_length, thought_weight)
    if dataset.num_rows == 0:
        raise ValueError(
            f"nothing to train on: {len(episodes)} episodes gave no trained decision "
            f"({dropped} longer than train.max_length={train.max_length}, the rest without loss-flagged replies)"
        )
    checkpoints = Path(run_dir) / "checkpoints"
    overrides: dict[str, Any] = {"use_cpu": cpu}
    trainer_class = SFTTrainer
    if thought_weight is not None:
        trainer_class = _weighted_trainer_class()
        overrides["remove_unused_columns"] = False  # keep `loss_weights` for the collator
    policy: Any = model
    peft = peft_config(lora, model)
    if init_adapter is not None:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(model, **model_init_kwargs(train))
        policy = PeftModel.from_pretrained(base, str(init_adapter), is_trainable=True)
        peft = None
        overrides["model_init_kwargs"] = None  # the model is built here, not by TRL
    trainer = trainer_class(
        model=policy,
        args=sft_args(train, checkpoints, **overrides),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft,
    )
    if thought_weight is not None:
        trainer.data_collator = _weighted_collator(trainer.data_collator)
    started = time.perf_counter()
    result, resume = train_resumably(trainer)
    trainer.save_model(str(out))
    history = loss_history(trainer)
    # A resumed run's own average covers only the steps after the checkpoint (none when it was the last),
    # so it reports the mean of the whole run's logged losses instead.
    train_loss = result.training_loss
    if resume is not None:
        train_loss = sum(loss for _, loss in history) / len(history) if history else float("nan")
    return {
        "samples": dataset.num_rows,
        "decisions": decisions,
        "samples_dropped_too_long": dropped,
        "global_steps": result.global_step,
        "train_loss": train_loss,
        "train_seconds": time.perf_counter() - started,  # this process's share when resumed
        "resumed_from_step": int(resume.name.rsplit("-", 1)[1]) if resume else 0,
        "loss_history": history,
    }
