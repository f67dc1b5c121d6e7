"""Declarative reasoning benchmarks: one YAML file per task names its data, prompt, grading and sampling.

Like lm-eval-harness's task files, a task is data, not code, so adding a benchmark means adding a YAML
file. Packaged tasks live in `agentkit/eval/tasks/*.yaml`; `get_task` also takes the path of a user's own
file. Unknown keys are errors that name the key, so a typo never silently falls back to a default.

    name: gsm8k
    description: ...
    data:                       # exactly one of jsonl / hub / generator
      jsonl: {train: ../data/gsm8k/train.jsonl, test: ../data/gsm8k/test.jsonl}  # relative to this file
      # hub: {path: openai/gsm8k, name: main}           # `datasets.load_dataset` (needs a download)
      # generator: arithmetic                            # agentkit.eval.arithmetic, with `args`
    split: test
    fields: {question: question, answer: answer}
    prompt: "Question: {{ question }}\\nAnswer:"        # Jinja, fields of the row as variables
    fewshot: {n: 0, split: train, seed: 0, target: " {{ answer }}", separator: "\\n\\n"}  # solved examples first
    extract: [marker, boxed, cue, last_number]          # see agentkit.eval.grader
    grader: numeric                                     # numeric | math (math-verify for LaTeX)
    generation: {max_tokens: 512, temperature: 0.0, top_p: 1.0, n: 1, stop: [], seed: 0}
    metrics: [accuracy, pass@k, maj@k, mean_completion_tokens]
    group_by: level                                     # optional: accuracy per value of this field
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml

from agentkit.errors import AgentkitError
from agentkit.eval.grader import METHODS, GraderError, check_methods, extract, is_equivalent, reference_answer
from agentkit.jsonl import json_lines

GRADERS = ("numeric", "math")
METRICS = ("accuracy", "pass@k", "maj@k", "mean_completion_tokens")
GENERATORS = {"arithmetic": "agentkit.eval.arithmetic:generate_split"}


class TaskError(AgentkitError, ValueError):
    """A bad task file, an unknown task, or a data row the task cannot use; the message names the culprit."""


@dataclass(frozen=True)
class Generation:
    """Sampling parameters a backend uses to answer the task's prompts."""

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    stop: list[str] = field(default_factory=list)
    seed: int = 0


@dataclass(frozen=True)
class DataSource:
    """Where rows come from: JSONL files per split, a `datasets` hub name, or a procedural generator."""

    jsonl: dict[str, str] | None = None
    hub: dict[str, str] | None = None
    generator: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FewShot:
    """Solved examples put before each prompt (base models need them to follow the answer format).

    The same `n` examples, drawn with `seed` from `split`, precede every prompt; a row is never its own
    example. Each example is its rendered prompt followed by the `target` template.
    """

    n: int = 0
    split: str = "train"
    seed: int = 0
    target: str = " {{ answer }}"
    separator: str = "\n\n"


@dataclass(frozen=True)
class Fields:
    question: str = "question"
    answer: str = "answer"


@dataclass(frozen=True)
class Task:
    """A benchmark: rows, how to prompt for them, and how to read and grade the answers."""

    name: str
    description: str
    data: DataSource
    split: str = "test"
    fields: Fields = field(default_factory=Fields)
    prompt: str = "{{ question }}"
    fewshot: FewShot = field(default_factory=FewShot)
    extract: list[str] = field(default_factory=lambda: list(METHODS))
    grader: str = "numeric"
    generation: Generation = field(default_factory=Generation)
    metrics: list[str] = field(default_factory=lambda: list(METRICS))
    group_by: str | None = None
    path: str = ""  # the task file, for messages and for resolving relative data paths

    def __post_init__(self) -> None:
        where = self.path or self.name
        try:
            check_methods(self.extract)
        except GraderError as exc:
            raise TaskError(f"{where}: extract: {exc}") from None
        if self.grader not in GRADERS:
            raise TaskError(f"{where}: grader must be one of {GRADERS}, got {self.grader!r}")
        for metric in self.metrics:
            if metric not in METRICS and not _is_metric_at_k(metric):
                raise TaskError(f"{where}: unknown metric {metric!r}; known: {', '.join(METRICS)}, pass@N, maj@N")
        sources = [name for name in ("jsonl", "hub", "generator") if getattr(self.data, name) is not None]
        if len(sources) != 1:
            raise TaskError(f"{where}: data needs exactly one of jsonl, hub, generator; got {sources or 'none'}")
        if self.data.generator is not None:
            self._check_generator_args(where)
        if self.generation.n < 1:
            raise TaskError(f"{where}: generation.n must be >= 1, got {self.generation.n}")
        if self.fewshot.n < 0:
            raise TaskError(f"{where}: fewshot.n must be >= 0, got {self.fewshot.n}")
        templates = {}
        for key, text in (("prompt", self.prompt), ("fewshot.target", self.fewshot.target)):
            try:
                templates[key] = _JINJA.from_string(text)
            except jinja2.TemplateSyntaxError as exc:
                raise TaskError(f"{where}: {key} is not a valid template: {exc}") from None
        object.__setattr__(self, "_templates", templates)
        object.__setattr__(self, "_examples", None)  # few-shot examples, drawn on first use

    def _check_generator_args(self, where: str) -> None:
        if self.data.generator not in GENERATORS:
            raise TaskError(f"{where}: unknown data.generator {self.data.generator!r}; known: {list(GENERATORS)}")
        try:
            inspect.signature(_import(GENERATORS[self.data.generator])).bind(split=self.split, **self.data.args)
        except TypeError as exc:
            raise TaskError(f"{where}: data.args: {exc}") from None

    def docs(self, split: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The rows of a split (the task's own split by default), in their stored order."""
        split = split or self.split
        if self.data.jsonl is not None:
            rows = self._read_jsonl(split)
        elif self.data.hub is not None:
            rows = self._load_hub(split)
        else:
            rows = _import(GENERATORS[self.data.generator])(split=split, **self.data.args)
        return rows[:limit] if limit is not None else rows

    def render_prompt(self, doc: dict[str, Any]) -> str:
        """The prompt for one row, after the few-shot examples; a field the template uses but a row lacks
        is an error naming it."""
        parts = [
            self._render("prompt", example) + self._render("fewshot.target", example)
            for example in self._fewshot_examples(doc)
        ]
        return self.fewshot.separator.join(parts + [self._render("prompt", doc)])

    def _render(self, key: str, doc: dict[str, Any]) -> str:
        try:
            return self._templates[key].render(**doc)
        except jinja2.UndefinedError as exc:
            raise TaskError(f"{self.path or self.name}: {key} uses a field the row lacks ({exc.message})") from None

    def _fewshot_examples(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        if self.fewshot.n == 0:
            return []
        if self._examples is None:
            pool = self.docs(split=self.fewshot.split)
            order = random.Random(self.fewshot.seed).sample(range(len(pool)), len(pool))
            # One spare, so that a row drawn as an example can be swapped out when it is the question itself.
            object.__setattr__(self, "_examples", [pool[i] for i in order[: self.fewshot.n + 1]])
        question = doc.get(self.fields.question)
        examples = [ex for ex in self._examples if ex.get(self.fields.question) != question][: self.fewshot.n]
        if len(examples) < self.fewshot.n:
            raise TaskError(f"{self.name}: fewshot.n={self.fewshot.n} but split {self.fewshot.split!r} is too small")
        return examples

    def reference(self, doc: dict[str, Any]) -> str:
        """The gold answer of a row (GSM8K's `#### n`, a `\\boxed{}` or a bare answer)."""
        if self.fields.answer not in doc:
            raise TaskError(f"{self.name}: row has no answer field {self.fields.answer!r}")
        try:
            return reference_answer(doc[self.fields.answer])
        except GraderError as exc:
            raise TaskError(f"{self.name}: field {self.fields.answer!r}: {exc}") from None

    def grade(self, completion: str | None, reference: str) -> tuple[str | None, bool]:
        """(extracted answer, whether it equals the reference) for one completion.

        The completion is first cut at the task's stop strings, so text a backend generated past a stop
        (a model inventing the next "Question:") is graded the same whichever backend produced it.
        """
        for stop in self.generation.stop if completion else ():
            completion = completion.split(stop, 1)[0]
        answer = extract(completion, self.extract).answer
        return answer, is_equivalent(answer, reference, symbolic=self.grader == "math")

    def equivalent(self, first: str, second: str) -> bool:
        """The task's answer equality, used to pool votes for maj@k."""
        return is_equivalent(first, second, symbolic=self.grader == "math")

    def _read_jsonl(self, split: str) -> list[dict[str, Any]]:
        if split not in self.data.jsonl:
            raise TaskError(f"{self.name}: no split {split!r}; data.jsonl has {sorted(self.data.jsonl)}")
        path = Path(self.data.jsonl[split])
        if not path.is_absolute():
            path = Path(self.path).parent / path
        if not path.is_file():
            raise TaskError(f"{self.name}: data.jsonl.{split}: no such file {str(path)!r}")
        rows = []
        for where, row, error in json_lines(path):
            if error is not None:
                raise TaskError(f"{where}: {error}")
            self._check_row(row, where)
            rows.append(row)
        return rows

    def _load_hub(self, split: str) -> list[dict[str, Any]]:
        import datasets  # slow to import, and only users who can download reach this path

        dataset = datasets.load_dataset(**self.data.hub, split=split)
        rows = [dict(row) for row in dataset]
        for index, row in enumerate(rows):
            self._check_row(row, f"{self.data.hub.get('path')}[{split}][{index}]")
        return rows

    def _check_row(self, row: Any, where: str) -> None:
        if not isinstance(row, dict):
            raise TaskError(f"{where}: expected a JSON object, got {type(row).__name__}")
        for name in (self.fields.question, self.fields.answer):
            if not isinstance(row.get(name), str):
                raise TaskError(f"{where}: field {name!r} must be a string, got {row.get(name)!r:.60}")


_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def _is_metric_at_k(metric: str) -> bool:
    kind, _, k = metric.partition("@")
    return kind in ("pass", "maj") and k.isdigit() and int(k) >= 1


def _import(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


_NESTED = {"data": DataSource, "fields": Fields, "generation": Generation, "fewshot": FewShot}


def _build(cls: type, raw: Any, path: str, prefix: str = "") -> Any:
    """A dataclass from a YAML mapping: unknown keys and wrongly typed values are errors naming the key."""
    if not isinstance(raw, dict):
        raise TaskError(f"{path}: {prefix.rstrip('.') or 'task file'} must be a mapping, got {raw!r:.60}")
    known = {f.name: f for f in dataclasses.fields(cls) if f.name != "path"}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise TaskError(f"{path}: unknown key {prefix + unknown[0]!r}; known: {', '.join(known)}")
    values = {}
    for name, value in raw.items():
        if cls is Task and name in _NESTED:
            values[name] = _build(_NESTED[name], value, path, f"{name}.")
        else:
            values[name] = _check_type(value, known[name], f"{path}: {prefix}{name}")
    required = [f.name for f in known.values() if f.default is f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in raw]
    if missing:
        raise TaskError(f"{path}: missing key {prefix + missing[0]!r}")
    return cls(**values, path=path) if cls is Task else cls(**values)


_SCALAR_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def _check_type(value: Any, spec: dataclasses.Field, where: str) -> Any:
    """Check a scalar or list/dict value against the field's annotation (written as a string here)."""
    annotation = str(spec.type)
    base = annotation.split(" | ")[0]
    if value is None and "None" in annotation:
        return value
    if base.startswith("list"):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif base.startswith("dict"):
        ok = isinstance(value, dict)
    else:
        ok = isinstance(value, _SCALAR_TYPES[base]) and not (isinstance(value, bool) and base != "bool")
    if not ok:
        raise TaskError(f"{where} must be {annotation}, got {value!r:.60}")
    return value


def load_task(path: str | os.PathLike[str]) -> Task:
    """A task from a YAML file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TaskError(f"{path}: cannot read task file: {exc}") from None
    return _build(Task, raw, str(path))


def _packaged() -> dict[str, Path]:
    folder = resources.files("agentkit.eval") / "tasks"
    return {Path(item.name).stem: Path(str(item)) for item in folder.iterdir() if item.name.endswith(".yaml")}


def list_tasks() -> list[str]:
    """Names of the packaged tasks."""
    return sorted(_packaged())


def get_task(name: str) -> Task:
    """A packaged task by name, or a task file by path (anything ending in .yaml/.yml)."""
    if name.endswith((".yaml", ".yml")):
        return load_task(name)
    packaged = _packaged()
    if name not in packaged:
        raise TaskError(f"unknown task {name!r}; available: {', '.join(sorted(packaged))}")
    task = load_task(packaged[name])
    if task.name != name:
        raise TaskError(f"{packaged[name]}: name {task.name!r} differs from the file name {name!r}")
    return task
