"""Checkpoints a killed run can always resume from.

A checkpoint folder (`checkpoint-N` of transformers' trainers, `step-N` of the custom loops) counts only once
a marker file inside it says every file was written: a kill in the middle of writing one leaves a folder
without the marker, which the next run names and skips (resuming from the newest complete one) and the
trainer overwrites when it reaches that step again.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

COMPLETE_MARKER = "checkpoint-complete"


def mark_complete(folder: str | os.PathLike[str]) -> None:
    """Declare the checkpoint `folder` whole: call it after its last file is written."""
    (Path(folder) / COMPLETE_MARKER).touch()


def is_complete(folder: str | os.PathLike[str]) -> bool:
    return (Path(folder) / COMPLETE_MARKER).is_file()


def _numbered(parent: Path, prefix: str) -> list[Path]:
    """`parent/prefix-N` folders, by N."""
    found = []
    for path in parent.glob(f"{prefix}-*"):
        number = path.name[len(prefix) + 1 :]
        if number.isdigit() and path.is_dir():
            found.append((int(number), path))
    return [path for _, path in sorted(found)]


def complete_checkpoints(parent: str | os.PathLike[str], prefix: str = "checkpoint") -> list[Path]:
    """The complete `parent/prefix-N` checkpoints, oldest first."""
    return [path for path in _numbered(Path(parent), prefix) if is_complete(path)]


def last_checkpoint(parent: str | os.PathLike[str], prefix: str = "checkpoint") -> Path | None:
    """The newest complete checkpoint to resume from (None: start afresh); newer incomplete ones are
    skipped with a warning that names them."""
    folders = _numbered(Path(parent), prefix)
    complete = [path for path in folders if is_complete(path)]
    resume = complete[-1] if complete else None
    skipped = [path.name for path in folders[folders.index(resume) + 1 if resume else 0 :]]
    if skipped:
        warnings.warn(
            f"{parent}: skipping incomplete checkpoint {', '.join(skipped)} (the run was killed while writing "
            f"it); resuming from {resume.name if resume else 'the start'}",
            stacklevel=2,
        )
    return resume


def completion_callback() -> Any:
    """A transformers `TrainerCallback` that marks each `checkpoint-N` complete once the trainer saved it."""
    from transformers import TrainerCallback

    class MarkCheckpointComplete(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                mark_complete(Path(args.output_dir) / f"checkpoint-{state.global_step}")

    return MarkCheckpointComplete()


def _finished(trainer: Any, checkpoint: Path) -> bool:
    """Whether `checkpoint` is the last one of the run `trainer` is set up for."""
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    planned = trainer.args.max_steps if trainer.args.max_steps > 0 else state.get("max_steps", 0)
    return 0 < planned <= state["global_step"]


def _restore_finished(trainer: Any, checkpoint: Path) -> Any:
    """The trainer's weights and state as `checkpoint` left them, and the train output the run gave."""
    from transformers import TrainerState
    from transformers.trainer_utils import TrainOutput

    trainer._load_from_checkpoint(str(checkpoint))
    trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    mean = sum(losses) / len(losses) if losses else float("nan")
    return TrainOutput(trainer.state.global_step, mean, {})


def train_resumably(trainer: Any) -> tuple[Any, Path | None]:
    """`trainer.train()` resumed from the newest complete checkpoint in its output folder, its own
    checkpoints marked complete as they are written; returns (the train output, the checkpoint resumed
    from or None).

    A run killed after its last checkpoint is not trained further: transformers, resumed from a final
    step that ends mid-epoch, would train one step past it. (Sharded DeepSpeed and FSDP weights load only
    inside `train`, so those runs resume through it.)
    """
    trainer.add_callback(completion_callback())
    resume = last_checkpoint(trainer.args.output_dir)
    sharded = trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled
    if resume is not None and not sharded and _finished(trainer, resume):
        return _restore_finished(trainer, resume), resume
    return trainer.train(resume_from_checkpoint=str(resume) if resume else None), resume
