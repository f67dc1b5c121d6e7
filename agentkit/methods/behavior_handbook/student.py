"""The student's side of behavior-conditioned SFT: its base, SFT on the plain question -> the teacher's
trace, and held-out accuracy and length of student and teacher, plain and behavior-conditioned."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from agentkit.errors import AgentkitError
from agentkit.methods.behavior_handbook.config import TASK, BehaviorSFTConfig
from agentkit.methods.behavior_handbook.teacher import Conditioner, answer, problems


def build_warm_start(config: BehaviorSFTConfig) -> str:
    """The student's base: a warm start on reference solutions, built once and cached by its inputs."""
    from agentkit.eval.tasks import get_task
    from agentkit.training.warmup import warm_start

    task = get_task(TASK)
    settings = config.warm_start
    # Another seed than the SFT problems', so the warm start does not pre-teach the SFT set's answers.
    rows = problems(config, "train", settings.problems_per_level, config.data.seed + 1)
    chats = [
        [{"role": "user", "content": task.render_prompt(r)}, {"role": "assistant", "content": r["answer"]}]
        for r in rows
    ]
    return str(
        warm_start(
            f"arithmetic-{config.data.style}",
            chats=chats,
            seed=config.seed,
            cache_dir=config.cache_dir,
            **settings.training(),
        )
    )


def train(config: BehaviorSFTConfig, model: str, traces: Path, run_dir: Path, cpu: bool) -> dict[str, Any]:
    """SFT on (plain prompt -> teacher trace): the behaviors the teacher saw are not in the student's prompt."""
    import datasets
    from trl import SFTTrainer

    from agentkit.models import load_tokenizer
    from agentkit.training.checkpoints import train_resumably
    from agentkit.training.data import encode_messages
    from agentkit.training.sft import loss_history, peft_config, sft_args

    records = [json.loads(line) for line in traces.read_text().splitlines()]
    kept = [r for r in records if r["correct"]]
    if not kept:
        raise AgentkitError(f"{traces}: none of the teacher's {len(records)} traces is correct; nothing to train on")
    tokenizer = load_tokenizer(model)
    rows: dict[str, list] = {"input_ids": [], "labels": []}
    for record in kept:
        encoded = encode_messages(
            tokenizer,
            [
                {"role": "user", "content": record["prompt"]},
                {"role": "assistant", "content": record["trace"], "loss": True},
            ],
        )
        rows["input_ids"].append(encoded["input_ids"])
        rows["labels"].append(encoded["labels"])
    checkpoints = run_dir / "checkpoints"
    trainer = SFTTrainer(
        model=model,
        args=sft_args(config.train, checkpoints, use_cpu=cpu),
        train_dataset=datasets.Dataset.from_dict(rows),
        processing_class=tokenizer,
        peft_config=peft_config(config.lora, model),
    )
    started = time.perf_counter()
    result, _ = train_resumably(trainer)
    trainer.save_model(str(config.lora.output_folder(run_dir)))
    trace_tokens = [sum(1 for label in ids if label != -100) for ids in rows["labels"]]
    return {
        "traces": len(records),
        "traces_correct": len(kept),
        "mean_trace_tokens": sum(trace_tokens) / len(trace_tokens),
        "global_steps": result.global_step,
        "train_loss": result.training_loss,
        "train_seconds": time.perf_counter() - started,
        "loss_history": loss_history(trainer),
    }


def score(task, rows: list[dict[str, Any]], completions, tokenizer) -> dict[str, Any]:
    """Accuracy and mean completion tokens (the end-of-turn token included; text a backend returns without
    token ids, like the scripted teacher's, is counted with the student's tokenizer)."""
    correct = [
        c.error is None and task.grade(c.text, task.reference(r))[1] for r, c in zip(rows, completions, strict=True)
    ]
    tokens = [
        len(c.token_ids)
        if c.token_ids is not None
        else len(tokenizer(c.text, add_special_tokens=False)["input_ids"]) + 1
        for c in completions
    ]
    by_level: dict[str, list[bool]] = {}
    for row, ok in zip(rows, correct, strict=True):
        by_level.setdefault(str(row["level"]), []).append(ok)
    return {
        "n": len(rows),
        "accuracy": sum(correct) / len(rows),
        "mean_completion_tokens": sum(tokens) / len(tokens),
        "accuracy_by_level": {level: sum(v) / len(v) for level, v in sorted(by_level.items())},
        "failed": sum(c.error is not None for c in completions),
    }


def evaluate(config: BehaviorSFTConfig, model: str, teacher, conditioner: Conditioner, run_dir: Path):
    """The student (and the teacher) on held-out problems, each with the plain prompt and with the
    retrieved behaviors prepended; the same problems and greedy decoding for all."""
    from agentkit.eval.tasks import get_task
    from agentkit.models import load_tokenizer
    from agentkit.rollout.backend import make_backend

    task = get_task(TASK)
    rows = problems(config, "test", config.data.eval_per_level, config.data.seed)
    plain = [task.render_prompt(r) for r in rows]
    conditioned = [conditioner(p, r["question"]) for p, r in zip(plain, rows, strict=True)]
    tokenizer = load_tokenizer(model)
    tuned = config.lora.backend_model(model, config.lora.output_folder(run_dir))
    student = make_backend("hf", *tuned, batch_size=config.eval.batch_size, threads=config.eval.threads)
    models = {"student": student, **({"teacher": teacher} if config.eval.teacher else {})}
    if config.eval.base:
        models["base"] = make_backend("hf", model, batch_size=config.eval.batch_size, threads=config.eval.threads)
    results = {}
    with (run_dir / "eval_completions.jsonl").open("w") as out:
        for who, backend in models.items():
            for mode, prompts in (("plain", plain), ("behaviors", conditioned))[: 1 if who == "base" else 2]:
                completions = answer(backend, prompts, config.eval.max_tokens, config.seed)
                results[f"{who}/{mode}"] = score(task, rows, completions, tokenizer)
                for row, completion in zip(rows, completions, strict=True):
                    out.write(
                        json.dumps({"model": who, "prompt": mode, "id": row["id"], "completion": completion.text})
                        + "\n"
                    )
    return results
