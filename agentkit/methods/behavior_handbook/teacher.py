"""The teacher's side of behavior-conditioned SFT: the handbook it extracts, and its traces written with
the retrieved behaviors in its prompt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentkit.errors import AgentkitError
from agentkit.methods.behavior_handbook.config import TASK, BehaviorSFTConfig


def problems(config: BehaviorSFTConfig, split: str, per_level: int, seed: int) -> list[dict[str, Any]]:
    from agentkit.eval.arithmetic import generate_split

    data = config.data
    return generate_split(split, levels=data.levels, per_level=per_level, seed=seed, style=data.style)


def make_teacher(config: BehaviorSFTConfig):
    from agentkit.methods.behavior_handbook.scripted_teacher import ScriptedArithmeticTeacher
    from agentkit.rollout.backend import make_backend

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
    from agentkit.eval.tasks import get_task
    from agentkit.methods.behavior_handbook.behaviors import extract_handbook
    from agentkit.methods.behavior_handbook.handbook import Handbook

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
        from agentkit.methods.behavior_handbook.behaviors import make_retriever

        self.handbook = handbook
        self.settings = config.handbook
        retrieval = self.settings.retrieval
        self.retriever = None if retrieval == "topic" else make_retriever(handbook.behaviors, retrieval)

    def __call__(self, prompt: str, question: str) -> str:
        from agentkit.methods.behavior_handbook.behaviors import conditioned_prompt, select_behaviors

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
