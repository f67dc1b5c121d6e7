"""Behavior-conditioned SFT (Metacognitive Reuse, 2025): a student learns from traces a teacher wrote with
behaviors in its prompt, and is trained WITHOUT them, so it internalises the shorter reasoning.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/behavior_sft.py \
        --config recipes/configs/behavior_sft_arithmetic.yaml [key=value ...]

Steps: (1) the student's base: a warm start of a tiny preset on the benchmark's reference solutions (or
any local model), (2) the handbook: loaded, or extracted by the teacher (solve -> reflect -> extract) from
its own traces on training problems, (3) teacher traces on the training problems, each prompt carrying
the behaviors retrieved for it (`conditioning=behaviors`) or none (`conditioning=none`: vanilla SFT on full
traces, the baseline), wrong answers dropped, (4) SFT (LoRA, or full fine-tune) on question -> trace with
the plain question as prompt, resumable, (5) held-out accuracy and completion tokens of the student and the
teacher, each with plain and behavior-conditioned prompts, (6) a run folder: handbook.json, traces.jsonl,
adapter/ or model/, config.yaml, metrics.json, report.md, plots.

The teacher is a backend: `scripted` (the rule-based arithmetic teacher of `agentkit.scripted_teacher`,
for tiny-scale runs), `hf` or `vllm` (a local model folder) or `openai` (a served model; `teacher.kwargs`
carries e.g. `base_url`).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentkit.config import parse_recipe_args, print_report, run_recipe, save_config
from agentkit.errors import AgentkitError
from agentkit.training.ranks import finish_training
from agentkit.training.sft import LoraSettings, TrainSettings
from agentkit.training.warmup import WarmStartSettings

TASK = "arithmetic"


@dataclass
class DataSettings:
    """Problems of `agentkit.eval.arithmetic`: training problems from its train split, held-out ones from
    its test split (disjoint by construction)."""

    levels: list[int] = field(default_factory=lambda: [1, 2, 3])
    style: Literal["words", "expression"] = "words"
    train_per_level: int = 300
    eval_per_level: int = 50
    seed: int = 0


@dataclass
class StudentWarmStart(WarmStartSettings):
    """The student's base when `model: warm_start`: a tiny preset fully trained on the benchmark's own
    reference solutions to other training problems (neither the verbose nor the concise trace style)."""

    problems_per_level: int = 300


@dataclass
class TeacherSettings:
    backend: Literal["scripted", "hf", "vllm", "openai"] = "scripted"
    model: str = ""  # a model folder (hf, vllm) or a served model's name (openai); unused when scripted
    kwargs: dict[str, Any] = field(default_factory=dict)
    max_tokens: int = 512
    temperature: float = 0.0


@dataclass
class HandbookSettings:
    """`path`: an existing handbook; else the teacher extracts one from `extract_problems` training
    problems. Retrieval per problem: `topic` takes every behavior tagged with the benchmark's topic;
    `bm25` / `embedding` / `auto` the `k` behaviors closest to the question."""

    path: str | None = None
    extract_problems: int = 30
    retrieval: Literal["topic", "bm25", "embedding", "auto"] = "topic"
    k: int = 4


@dataclass
class EvalSettings:
    max_tokens: int = 256
    batch_size: int = 32
    threads: int | None = None
    teacher: bool = True  # also measure the teacher, plain and behavior-conditioned
    base: bool = True  # also measure the student's base before SFT (plain prompts)


@dataclass
class BehaviorSFTConfig:
    model: str = "warm_start"  # `warm_start` (see warm_start:) or a local model folder
    output_dir: str = "runs/behavior_sft"
    cache_dir: str = ".cache/agentkit"
    conditioning: Literal["behaviors", "none"] = "behaviors"
    seed: int = 0
    threads: int | None = None  # torch's threads for this process (tiny models on a shared CPU run faster on 1)
    data: DataSettings = field(default_factory=DataSettings)
    warm_start: StudentWarmStart = field(default_factory=StudentWarmStart)
    teacher: TeacherSettings = field(default_factory=TeacherSettings)
    handbook: HandbookSettings = field(default_factory=HandbookSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    skip_eval: bool = False


def problems(config: BehaviorSFTConfig, split: str, per_level: int, seed: int) -> list[dict[str, Any]]:
    from agentkit.eval.arithmetic import generate_split

    data = config.data
    return generate_split(split, levels=data.levels, per_level=per_level, seed=seed, style=data.style)


def resolve_model(config: BehaviorSFTConfig) -> str:
    """The student's base; a warm start is built once and cached by its inputs."""
    if config.model != "warm_start":
        return config.model
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


def make_teacher(config: BehaviorSFTConfig):
    from agentkit.rollout.backend import make_backend
    from agentkit.scripted_teacher import ScriptedArithmeticTeacher

    if config.teacher.backend == "scripted":
        return ScriptedArithmeticTeacher()
    return make_backend(config.teacher.backend, config.teacher.model, **config.teacher.kwargs)


def teacher_sampling(config: BehaviorSFTConfig):
    from agentkit.rollout.sampling import SamplingParams

    return SamplingParams(
        temperature=config.teacher.temperature, max_tokens=config.teacher.max_tokens, seed=config.seed
    )


def build_handbook(config: BehaviorSFTConfig, teacher, run_dir: Path):
    """The handbook in the run folder; a resumed run keeps it."""
    from agentkit.behaviors import extract_handbook
    from agentkit.eval.tasks import get_task
    from agentkit.handbook import Handbook

    path = run_dir / "handbook.json"
    if path.exists():
        return Handbook.load(path)
    if config.handbook.path:
        return Handbook.load(config.handbook.path)
    task = get_task(TASK)
    wanted = config.handbook.extract_problems
    per_level = -(-wanted // len(config.data.levels))
    sample = problems(config, "train", per_level, config.data.seed + 2)[:wanted]
    extraction = extract_handbook(
        teacher, sample, prompt_of=task.render_prompt, sampling=teacher_sampling(config), tags_of=lambda _: [TASK]
    )
    if not len(extraction.handbook):
        raise AgentkitError(
            f"the teacher's extraction output held no behavior ({len(extraction.malformed)} malformed "
            f"lines, {len(extraction.failed)} failed problems): see {run_dir / 'extraction.jsonl'}"
        )
    with (run_dir / "extraction.jsonl").open("w") as out:
        for record in extraction.records:
            out.write(json.dumps(record) + "\n")
    extraction.handbook.save(path)
    return extraction.handbook


class Conditioner:
    """Adds the behaviors retrieved for a problem to its prompt (behavior-conditioned inference)."""

    def __init__(self, config: BehaviorSFTConfig, handbook):
        from agentkit.behaviors import make_retriever

        self.handbook = handbook
        self.settings = config.handbook
        retrieval = self.settings.retrieval
        self.retriever = None if retrieval == "topic" else make_retriever(handbook.behaviors, retrieval)

    def __call__(self, prompt: str, question: str) -> str:
        from agentkit.behaviors import conditioned_prompt, select_behaviors

        if self.retriever is None:
            chosen = select_behaviors(self.handbook, None, question, topic_tags=[TASK])
        else:
            chosen = select_behaviors(self.handbook, self.retriever, question, k=self.settings.k)
        return conditioned_prompt(prompt, chosen)


def answer(backend, prompts: list[str], max_tokens: int, seed: int):
    from agentkit.rollout.sampling import SamplingParams

    params = SamplingParams(max_tokens=max_tokens, seed=seed)
    return [c[0] for c in backend.generate([[{"role": "user", "content": p}] for p in prompts], params)]


def make_traces(config: BehaviorSFTConfig, teacher, conditioner: Conditioner, run_dir: Path) -> Path:
    """The teacher's traces on the training problems (behaviors in its prompt when conditioning), graded;
    only correct ones are trained on. Written once: a resumed run keeps them."""
    from agentkit.eval.tasks import get_task

    path = run_dir / "traces.jsonl"
    if path.exists():
        return path
    task = get_task(TASK)
    rows = problems(config, "train", config.data.train_per_level, config.data.seed)
    plain = [task.render_prompt(r) for r in rows]
    prompts = (
        plain
        if config.conditioning == "none"
        else [conditioner(p, r["question"]) for p, r in zip(plain, rows, strict=True)]
    )
    completions = answer(teacher, prompts, config.teacher.max_tokens, config.seed)
    partial = path.with_suffix(".partial.jsonl")
    with partial.open("w") as out:
        for row, prompt, teacher_prompt, completion in zip(rows, plain, prompts, completions, strict=True):
            correct = completion.error is None and task.grade(completion.text, task.reference(row))[1]
            out.write(
                json.dumps(
                    {
                        "id": row["id"],
                        "level": row["level"],
                        "prompt": prompt,
                        "teacher_prompt": teacher_prompt,
                        "trace": completion.text,
                        "error": completion.error,
                        "correct": correct,
                    }
                )
                + "\n"
            )
    partial.rename(path)
    return path


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
        peft_config=peft_config(config.lora),
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


def write_report(config: BehaviorSFTConfig, run_dir: Path, handbook, training: dict, results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (run_dir / "metrics.json").write_text(json.dumps({"train": training, "eval": results}, indent=2))
    if training["loss_history"]:
        steps, losses = zip(*training["loss_history"], strict=True)
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot(steps, losses)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.set_title(f"SFT on {config.conditioning}-conditioned traces")
        fig.tight_layout()
        fig.savefig(run_dir / "loss.png", dpi=120)
        plt.close(fig)
    if results:
        names = list(results)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3))
        for ax, key, label in (
            (axes[0], "accuracy", "held-out accuracy"),
            (axes[1], "mean_completion_tokens", "mean completion tokens"),
        ):
            ax.bar(names, [results[n][key] for n in names])
            ax.set_title(label)
            ax.tick_params(axis="x", labelrotation=20)
        fig.tight_layout()
        fig.savefig(run_dir / "eval.png", dpi=120)
        plt.close(fig)
    teacher = "scripted teacher" if config.teacher.backend == "scripted" else f"teacher `{config.teacher.model}`"
    lines = [
        f"# Behavior-conditioned SFT on {TASK} (conditioning: {config.conditioning})",
        "",
        f"Student `{config.model}` ({'full fine-tune' if config.lora.full_finetune else 'LoRA'}), {teacher}, "
        f"handbook of {len(handbook)} behaviors ({config.handbook.retrieval} retrieval). "
        f"{training['traces_correct']}/{training['traces']} correct traces of {training['mean_trace_tokens']:.1f} "
        f"tokens on average, {training['global_steps']} steps, final training loss {training['train_loss']:.3f}, "
        f"{training['train_seconds']:.0f} s.",
        "",
    ]
    if results:
        lines += ["| model / prompt | n | accuracy | mean completion tokens |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {name} | {r['n']} | {r['accuracy']:.3f} | {r['mean_completion_tokens']:.1f} |"
            for name, r in results.items()
        ]
    else:
        lines.append("(evaluation skipped)")
    lines += ["", "## Handbook", "", *[f"- `{b.name}`: {b.instruction} (uses {b.uses})" for b in handbook], ""]
    (run_dir / "report.md").write_text("\n".join(lines))


def main(argv: list[str]) -> None:
    import torch
    from accelerate import PartialState

    config = parse_recipe_args(BehaviorSFTConfig, argv)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    cpu = not torch.accelerator.is_available()
    state = PartialState(cpu=cpu)
    run_dir = Path(config.output_dir)
    teacher = make_teacher(config) if state.is_main_process else None
    with state.main_process_first():  # rank 0 builds the base, the handbook and the traces; the others read them
        if state.is_main_process:
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, run_dir / "config.yaml")
            handbook = build_handbook(config, teacher, run_dir)
            conditioner = Conditioner(config, handbook)
            make_traces(config, teacher, conditioner, run_dir)
        model = resolve_model(config)
    training = train(config, model, run_dir / "traces.jsonl", run_dir, cpu)
    if not finish_training(state):
        return
    results = {} if config.skip_eval else evaluate(config, model, teacher, conditioner, run_dir)
    handbook.save(run_dir / "handbook.json")  # with the use counts of this run's retrievals
    write_report(config, run_dir, handbook, training, results)
    teacher.close()
    print_report(run_dir)


if __name__ == "__main__":
    sys.exit(run_recipe("behavior_sft", main, sys.argv[1:]))
