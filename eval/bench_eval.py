"""Grade completions for a benchmark task: per-item results in input order, plus a summary.

`grade_predictions` reads a file made elsewhere; `grade_records` takes the same records in memory (as a
generation backend produces them), so both paths grade, count and write alike.

A predictions file is JSONL, one item (record) a line: `question` and either `completion` (a string, or null for a
generation that failed) or `completions` (a list, for pass@k and maj@k). The reference answer comes from
the line's own answer field when it has one, else from the task's data, matched by question text. Other
fields are kept. `completion_tokens` (an int, or one int per completion) gives completion lengths.
A null completion is graded as wrong, left out of the mean length, and counted in the summary's
`failed_completions`, with its item's location in `failed_items`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentkit.errors import AgentkitError
from agentkit.eval.metrics import ItemResult, summarize
from agentkit.eval.tasks import Task, TaskError, get_task
from agentkit.jsonl import json_lines

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"


class PredictionsError(AgentkitError, ValueError):
    """A malformed predictions line; the message names the file, the line and the field."""


def _normalize(question: str) -> str:
    return " ".join(question.split())


def _read_predictions(path: Path, limit: int | None) -> list[tuple[str, Any]]:
    """(where, decoded record) per non-blank line, up to `limit` records."""
    records: list[tuple[str, Any]] = []
    for where, record, error in json_lines(path):
        if limit is not None and len(records) >= limit:
            break
        if error is not None:
            raise PredictionsError(f"{where}: {error}")
        records.append((where, record))
    return records


def _check_record(record: Any, where: str) -> None:
    if not isinstance(record, dict):
        raise PredictionsError(f"{where}: expected a JSON object, got {type(record).__name__}")
    question = record.get("question")
    if not isinstance(question, str):
        raise PredictionsError(f"{where}: field 'question' must be a string, got {question!r:.60}")
    _completions(record, where)


def _completions(record: dict[str, Any], where: str) -> list[str | None]:
    if ("completion" in record) == ("completions" in record):
        raise PredictionsError(f"{where}: needs exactly one of the fields 'completion' and 'completions'")
    if "completion" in record:
        completions = [record["completion"]]
    else:
        completions = record["completions"]
        if not isinstance(completions, list) or not completions:
            raise PredictionsError(f"{where}: field 'completions' must be a non-empty list, got {completions!r:.60}")
    for completion in completions:
        if completion is not None and not isinstance(completion, str):
            raise PredictionsError(f"{where}: completions must be strings or null, got {completion!r:.60}")
    return completions


def _token_counts(
    record: dict[str, Any], completions: list[str | None], where: str, count_tokens: Callable[[str], int] | None
) -> list[int] | None:
    if "completion_tokens" in record:
        counts = record["completion_tokens"]
        counts = [counts] if isinstance(counts, int) and "completion" in record else counts
        if not (isinstance(counts, list) and len(counts) == len(completions)
                and all(isinstance(c, int) and not isinstance(c, bool) for c in counts)):
            raise PredictionsError(
                f"{where}: field 'completion_tokens' must give one int per completion, got {counts!r:.60}"
            )
        return counts
    if count_tokens is not None:
        return [count_tokens(c) if c else 0 for c in completions]
    return None


def grade_predictions(
    task: str | Task,
    predictions: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    split: str | None = None,
    limit: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> dict[str, Any]:
    """Grade a predictions JSONL file against `task` (a name, a YAML path or a Task); see `grade_records`.

    `limit` grades the first N lines. The summary also names the predictions file.
    """
    predictions = Path(predictions)
    if not predictions.is_file():
        raise PredictionsError(f"no such predictions file: {str(predictions)!r}")
    located = _read_predictions(predictions, limit)
    if not located:
        raise PredictionsError(f"{predictions}: no predictions in the file")
    return _grade(task, located, out_dir, split, count_tokens, {"predictions": str(predictions)})


def grade_records(
    task: str | Task,
    records: Sequence[dict[str, Any]],
    out_dir: str | os.PathLike[str],
    *,
    split: str | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> dict[str, Any]:
    """Grade in-memory records (the predictions format, e.g. fresh from a backend); write and return the summary.

    Writes `out_dir/results.jsonl` (input order, input fields kept, plus `reference`, `extracted` and
    `correct`: scalars for `completion`, lists for `completions`) and `out_dir/summary.json`. `split`
    picks the task split used to look up references (the task's own by default); `count_tokens` measures
    completions that carry no `completion_tokens`.
    """
    if not records:
        raise PredictionsError("no records to grade")
    return _grade(task, [(f"record {i}", r) for i, r in enumerate(records)], out_dir, split, count_tokens, {})


def _grade(
    task: str | Task,
    located: list[tuple[str, Any]],
    out_dir: str | os.PathLike[str],
    split: str | None,
    count_tokens: Callable[[str], int] | None,
    extra: dict[str, str],
) -> dict[str, Any]:
    task = get_task(task) if isinstance(task, str) else task
    for where, record in located:
        _check_record(record, where)
    docs_by_question: dict[str, dict[str, Any]] | None = None
    rows, items, failed = [], [], []
    failed_completions = 0
    for where, record in located:
        doc = record
        if task.fields.answer not in record:
            if docs_by_question is None:
                docs_by_question = {_normalize(row[task.fields.question]): row for row in task.docs(split)}
            doc = docs_by_question.get(_normalize(record["question"]))
            if doc is None:
                raise PredictionsError(
                    f"{where}: question not in task {task.name!r} split {split or task.split!r} and the record has"
                    f" no {task.fields.answer!r} field: {record['question'][:60]!r}"
                )
        try:
            reference = task.reference(doc)
        except TaskError as exc:
            raise PredictionsError(f"{where}: {exc}") from None
        completions = _completions(record, where)
        graded = [task.grade(completion, reference) for completion in completions]
        extracted = [answer for answer, _ in graded]
        correct = [ok for _, ok in graded]
        group = record.get(task.group_by, doc.get(task.group_by)) if task.group_by else None
        counts = _token_counts(record, completions, where, count_tokens)
        if None in completions:
            failed.append(where)
            failed_completions += completions.count(None)
            # A failed request generated nothing: its length is unknown, not zero.
            counts = counts and [n for n, c in zip(counts, completions, strict=True) if c is not None]
        items.append(ItemResult(reference, extracted, correct, counts, None if group is None else str(group)))
        single = "completion" in record
        rows.append({**record, "reference": reference, "extracted": extracted[0] if single else extracted,
                     "correct": correct[0] if single else correct})
    summary = {"task": task.name, "split": split or task.split, **summarize(items, task.metrics, task.equivalent)}
    # Failed generations (null completions) are graded as wrong but counted apart, so that a timeout is
    # never mistaken for a wrong answer.
    summary.update(failed_completions=failed_completions, failed_items=failed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path, summary_path = out_dir / RESULTS_FILE, out_dir / SUMMARY_FILE
    summary.update(extra, results=str(results_path))
    _write_atomically(results_path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    _write_atomically(summary_path, json.dumps(summary, indent=2) + "\n")
    return summary


def _write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file so a killed run never leaves a half-written results file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a markdown table of metric and value (for the CLI to print)."""
    lines = ["| metric | value |", "|---|---|"]
    for key, value in summary.items():
        if isinstance(value, dict):
            lines += [f"| {key}[{group}] | {share:.4f} |" for group, share in value.items()]
        elif isinstance(value, float):
            lines.append(f"| {key} | {value:.4f} |")
        elif key not in ("predictions", "results", "failed_items"):
            lines.append(f"| {key} | {value} |")
    return "\n".join(lines)


def generate_records(
    task: str | Task, backend: Any, *, split: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Answer the task's prompts with a rollout backend (`agentkit.rollout`), as predictions records.

    Every backend gets the same chat prompt (the task's prompt as one user message) and the task's own
    sampling parameters, so their per-item results compare one to one.
    """
    from agentkit.rollout.sampling import SamplingParams

    task = get_task(task) if isinstance(task, str) else task
    docs = task.docs(split, limit)
    g = task.generation
    params = SamplingParams(temperature=g.temperature, top_p=g.top_p, max_tokens=g.max_tokens, n=g.n, seed=g.seed)
    prompts = [[{"role": "user", "content": task.render_prompt(doc)}] for doc in docs]
    records = []
    for doc, completions in zip(docs, backend.generate(prompts, params), strict=True):
        texts = [c.text if c.error is None else None for c in completions]
        tokens = [len(c.token_ids or []) for c in completions]
        record = {"question": doc[task.fields.question], task.fields.answer: doc[task.fields.answer]}
        if g.n == 1:
            record.update(completion=texts[0], completion_tokens=tokens[0])
        else:
            record.update(completions=texts, completion_tokens=tokens)
        records.append(record)
    return records
