"""Declarative tasks, the arithmetic benchmark, metrics, and grading a predictions file."""

import json
import math
from itertools import combinations
from pathlib import Path

import pytest
import yaml

from agentkit.eval.arithmetic import LEVELS, generate, generate_split
from agentkit.eval.bench_eval import PredictionsError, format_summary, grade_predictions, grade_records
from agentkit.eval.grader import extract_answer, is_equivalent
from agentkit.eval.metrics import ItemResult, ks_for, majority_answer, pass_at_k, summarize
from agentkit.eval.tasks import TaskError, get_task, list_tasks, load_task

GSM8K_YAML = """\
name: mine
description: GSM8K test copy.
data:
  jsonl: {{test: {data}}}
prompt: "Q: {{{{ question }}}}\\nA:"
"""


def write_task(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# --- task registry -------------------------------------------------------------------------------------


def test_packaged_tasks_load_and_validate() -> None:
    assert {"gsm8k", "gsm8k_5shot", "arithmetic", "math500"} <= set(list_tasks())
    for name in list_tasks():
        task = get_task(name)
        assert task.name == name and task.description


def test_gsm8k_ships_both_splits_with_the_readme_counts() -> None:
    task = get_task("gsm8k")
    assert (len(task.docs(split="train")), len(task.docs())) == (7473, 1319)
    first = task.docs(limit=1)[0]
    assert task.render_prompt(first).startswith("Question: Janet’s ducks lay 16 eggs per day.")
    assert task.reference(first) == "18"


def test_shipped_gsm8k_is_an_unchanged_copy(shared_data: Path) -> None:
    shipped = Path(get_task("gsm8k").path).parent.parent / "data" / "gsm8k"
    for name in ("train.jsonl", "test.jsonl", "LICENSE"):
        assert (shipped / name).read_bytes() == (shared_data / "gsm8k" / name).read_bytes(), name


def test_unknown_task_names_the_available_ones() -> None:
    with pytest.raises(TaskError, match="unknown task 'gsm9k'; available: .*gsm8k"):
        get_task("gsm9k")


def test_user_task_file_with_relative_data_path(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "rows.jsonl", [{"question": "What is 2 + 2?", "answer": "#### 4"}])
    task = get_task(str(write_task(tmp_path, GSM8K_YAML.format(data="rows.jsonl"))))
    (doc,) = task.docs()
    assert task.render_prompt(doc) == "Q: What is 2 + 2?\nA:"
    assert task.grade("2 + 2 = 4. The answer is 4.", task.reference(doc)) == ("4", True)


BASE_TASK = {
    "name": "mine",
    "description": "A bad task file.",
    "data": {"jsonl": {"test": "rows.jsonl"}},
    "prompt": "Q: {{ question }}\nA:",
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"promt": "x"}, "unknown key 'promt'"),
        ({"generation": {"temprature": 0.5}}, "unknown key 'generation.temprature'"),
        ({"generation": {"n": "two"}}, "generation.n must be int"),
        ({"generation": {"n": 0}}, "generation.n must be >= 1"),
        ({"grader": "fuzzy"}, "grader must be one of"),
        ({"extract": ["marker", "regex"]}, "unknown extraction method 'regex'"),
        ({"metrics": ["accuracy", "f1"]}, "unknown metric 'f1'"),
        ({"name": None}, "missing key 'name'"),
        ({"prompt": "{{ question "}, "prompt is not a valid template"),
        ({"fewshot": {"n": -1}}, "fewshot.n must be >= 0"),
        ({"fewshot": {"shots": 5}}, "unknown key 'fewshot.shots'"),
        ({"data": {"generator": "arithmetic", "args": {"levls": [1]}}}, "data.args: got an unexpected keyword"),
        ({"data": {"generator": "dice"}}, "unknown data.generator 'dice'"),
        ({"data": {"hub": {"path": "x"}, "generator": "arithmetic"}}, "exactly one of jsonl, hub, generator"),
        ({"data": ["rows.jsonl"]}, "data must be a mapping"),
    ],
)
def test_bad_task_files_name_the_bad_key(tmp_path: Path, changes: dict, message: str) -> None:
    raw = {key: value for key, value in {**BASE_TASK, **changes}.items() if value is not None}
    with pytest.raises(TaskError, match=message):
        load_task(write_task(tmp_path, yaml.safe_dump(raw)))


def test_fewshot_examples_precede_the_prompt_and_never_include_the_question(tmp_path: Path) -> None:
    questions = [f"What is {i} + {i}?" for i in range(4)]
    write_jsonl(tmp_path / "rows.jsonl", [{"question": q, "answer": f"#### {2 * i}"} for i, q in enumerate(questions)])
    fewshot = {"n": 3, "split": "test", "seed": 1, "target": " {{ answer }}", "separator": "\n--\n"}
    raw = {**BASE_TASK, "fewshot": fewshot}
    task = load_task(write_task(tmp_path, yaml.safe_dump(raw)))
    docs = task.docs()
    for doc in docs:
        blocks = task.render_prompt(doc).split("\n--\n")
        assert len(blocks) == 4 and blocks[-1] == f"Q: {doc['question']}\nA:"
        shown = [block.split("\n")[0][3:] for block in blocks[:-1]]
        assert doc["question"] not in shown and len(set(shown)) == 3
        assert all(block.startswith("Q: ") and "\nA: #### " in block for block in blocks[:-1])
    assert task.render_prompt(docs[0]) == load_task(task.path).render_prompt(docs[0])  # same seed, same examples
    too_many = load_task(write_task(tmp_path, yaml.safe_dump({**raw, "fewshot": {"n": 4, "split": "test"}})))
    with pytest.raises(TaskError, match="fewshot.n=4 but split 'test' is too small"):
        too_many.render_prompt(docs[0])


def test_hub_tasks_call_datasets_with_the_task_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub cannot be reached here, so a fake `load_dataset` (named as one) stands in for the download."""
    import datasets

    calls = []

    def fake_load_dataset(**kwargs):
        calls.append(kwargs)
        return [{"problem": "Compute $\\sin 60^\\circ$.", "answer": "\\frac{\\sqrt{3}}{2}", "level": 2}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    task = get_task("math500")
    (doc,) = task.docs()
    assert calls == [{"path": "HuggingFaceH4/MATH-500", "split": "test"}]
    assert task.render_prompt(doc).startswith("Problem: Compute $\\sin 60^\\circ$.\nPut the final answer in \\boxed{}.")
    assert task.grade(r"so $\boxed{\dfrac{\sqrt3}{2}}$", task.reference(doc)) == (r"\dfrac{\sqrt3}{2}", True)


def test_grading_cuts_the_completion_at_the_task_stop_strings() -> None:
    task = get_task("gsm8k")
    assert "\nQuestion:" in task.generation.stop
    completion = "9 * 2 = 18. The answer is 18.\nQuestion: Tom has 3 pens.\nAnswer: The answer is 3."
    assert task.grade(completion, "18") == ("18", True)


def test_bad_data_rows_name_the_line_and_field(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"question": "ok?", "answer": "#### 1"}\n{"question": "no answer"}\n', encoding="utf-8")
    task = load_task(write_task(tmp_path, GSM8K_YAML.format(data="rows.jsonl")))
    with pytest.raises(TaskError, match=r"rows.jsonl:2: field 'answer' must be a string"):
        task.docs()
    rows.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(TaskError, match=r"rows.jsonl:1: not valid JSON"):
        task.docs()
    with pytest.raises(TaskError, match="no split 'train'"):
        task.docs(split="train")


def test_prompt_field_missing_from_the_row_is_named(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "rows.jsonl", [{"question": "q", "answer": "#### 1"}])
    task = load_task(write_task(tmp_path, GSM8K_YAML.format(data="rows.jsonl").replace("question }}", "problem }}")))
    with pytest.raises(TaskError, match="'problem' is undefined"):
        task.render_prompt(task.docs()[0])


# --- arithmetic benchmark ------------------------------------------------------------------------------


def test_arithmetic_is_deterministic_and_seeds_differ() -> None:
    assert generate(3, 20, seed=1) == generate(3, 20, seed=1)
    assert generate(3, 20, seed=1) != generate(3, 20, seed=2)


def test_arithmetic_train_and_test_are_disjoint_across_seeds() -> None:
    train = {row["question"] for seed in (0, 1) for row in generate_split("train", per_level=200, seed=seed)}
    test = {row["question"] for seed in (0, 1) for row in generate_split("test", per_level=200, seed=seed)}
    assert len(test) > 1000 and not train & test


@pytest.mark.parametrize("style", ["words", "expression"])
def test_arithmetic_levels_are_step_counts_and_solutions_are_right(style: str) -> None:
    for level in LEVELS:
        for row in generate(level, 30, seed=0, style=style, split="train"):
            steps = row["answer"].splitlines()
            assert steps[-1].startswith("#### ") and row["level"] == level
            equations = [line for line in steps if "=" in line]
            assert len(equations) == level
            value = None
            for line in equations:  # each step's arithmetic is right and chains from the previous result
                left, result = line.rstrip(".").split(": ")[-1].split(" = ")
                a, op, b = left.split(" ")
                assert value is None or int(a) == value
                value = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b), "/": int(a) // int(b)}[op]
                assert value == int(result) and value >= 1 and (op != "/" or int(a) % int(b) == 0)
            assert extract_answer(row["answer"]) == str(value)


def test_arithmetic_vocabulary_is_small() -> None:
    words = set()
    for row in generate_split("train", per_level=300):
        text = row["question"] + " " + row["answer"]
        words |= {w for w in text.replace(".", " ").replace(":", " ").replace("?", " ").split() if not w.isdigit()}
    assert len(words) <= 60, sorted(words)


def test_arithmetic_too_many_problems_is_an_error_not_a_hang() -> None:
    with pytest.raises(ValueError, match="too few distinct test problems for n=5000"):
        generate(1, 5000, style="expression", split="test")
    with pytest.raises(ValueError, match="level must be one of"):
        generate(6, 1)


def test_arithmetic_task_rows_carry_levels() -> None:
    docs = get_task("arithmetic").docs()
    assert [sum(doc["level"] == level for doc in docs) for level in LEVELS] == [100] * 5


# --- metrics -------------------------------------------------------------------------------------------


def brute_pass_at_k(n: int, c: int, k: int) -> float:
    draws = list(combinations([True] * c + [False] * (n - c), k))
    return sum(any(draw) for draw in draws) / len(draws)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 0, 1), (5, 1, 1), (5, 2, 3), (6, 3, 4), (8, 1, 8), (4, 4, 2)])
def test_pass_at_k_is_the_unbiased_estimator(n: int, c: int, k: int) -> None:
    assert math.isclose(pass_at_k(n, c, k), brute_pass_at_k(n, c, k))


def test_pass_at_k_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="k=5"):
        pass_at_k(4, 1, 5)


def test_majority_pools_equivalent_answers_and_ties_go_first() -> None:
    equal = lambda a, b: is_equivalent(a, b)  # noqa: E731
    assert majority_answer(["18", "0.5", "18.0", "1/2", "1/2"], equal) == "0.5"
    assert majority_answer(["7", "18", None, None], equal) == "7"
    assert majority_answer([None, None], equal) is None


def test_ks_for_expands_k_to_powers_of_two_and_n() -> None:
    assert ks_for(["pass@k"], "pass", 6) == [1, 2, 4, 6]
    assert ks_for(["maj@4", "maj@16", "pass@k"], "maj", 8) == [4]


def test_summary_metrics() -> None:
    items = [
        ItemResult("18", ["18", "17", "18", None], [True, False, True, False], [10, 20, 30, 40], "1"),
        ItemResult("5", ["4", "4", "5", "6"], [False, False, True, False], [1, 1, 1, 1], "2"),
    ]
    summary = summarize(items, ["accuracy", "pass@k", "maj@k", "mean_completion_tokens"], is_equivalent)
    assert summary["accuracy"] == pytest.approx((0.5 + 0.25) / 2)
    assert summary["pass@1"] == summary["accuracy"]
    assert summary["pass@4"] == 1.0
    assert (summary["maj@1"], summary["maj@4"]) == (0.5, 0.5)  # item 2 votes 4
    assert summary["mean_completion_tokens"] == pytest.approx((25 + 1) / 2)
    assert summary["no_answer_rate"] == pytest.approx(0.125)
    assert summary["accuracy_by_group"] == {"1": 0.5, "2": 0.25}


# --- grading a predictions file ------------------------------------------------------------------------


def test_grading_gsm8k_reference_solutions_as_predictions(tmp_path: Path) -> None:
    docs = get_task("gsm8k").docs(limit=50)
    rows = [{"question": d["question"], "completion": d["answer"], "model": "reference"} for d in docs]
    rows[3]["completion"] = rows[3]["completion"].rsplit("####", 1)[0] + "#### 999999"
    summary = grade_predictions("gsm8k", write_jsonl(tmp_path / "p.jsonl", rows), tmp_path / "out")
    assert summary["accuracy"] == pytest.approx(49 / 50)
    results = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["question"] for r in results] == [d["question"] for d in docs]  # input order
    assert all(r["model"] == "reference" for r in results)  # input fields kept
    assert results[3]["extracted"] == "999999" and results[3]["correct"] is False
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == summary
    assert summary["results"] == str(tmp_path / "out" / "results.jsonl")
    assert "| accuracy | 0.9800 |" in format_summary(summary)


def test_several_completions_per_question_and_failed_generations(tmp_path: Path) -> None:
    docs = get_task("arithmetic").docs()[:3]
    rows = [
        {"question": docs[0]["question"], "completions": [docs[0]["answer"], None, "The answer is -1."]},
        {"question": docs[1]["question"], "completions": ["no idea", "The answer is -1.", docs[1]["answer"]]},
        {"question": docs[2]["question"], "completions": [None, None, None], "completion_tokens": [0, 0, 0]},
    ]
    summary = grade_predictions("arithmetic", write_jsonl(tmp_path / "p.jsonl", rows), tmp_path, count_tokens=len)
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["correct"] for r in results] == [[True, False, False], [False, False, True], [False] * 3]
    assert results[0]["extracted"][1] is None
    assert summary["pass@1"] == pytest.approx(2 / 9)
    assert summary["pass@2"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert summary["maj@3"] == pytest.approx(1 / 3)
    assert summary["accuracy_by_group"] == {"1": pytest.approx(2 / 9)}


def test_a_line_with_its_own_answer_needs_no_lookup(tmp_path: Path) -> None:
    rows = [{"question": "made up?", "answer": "#### 1,080", "completion": "**Answer:** $1,080"}]
    summary = grade_predictions("gsm8k", write_jsonl(tmp_path / "p.jsonl", rows), tmp_path / "out")
    assert summary["accuracy"] == 1.0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "What is 1?"', r"p.jsonl:1: not valid JSON"),
        ('{"completion": "4"}', r"p.jsonl:1: field 'question' must be a string"),
        ('{"question": "q", "answer": "#### 1"}', "exactly one of the fields 'completion' and 'completions'"),
        ('{"question": "q", "answer": "#### 1", "completions": []}', "'completions' must be a non-empty list"),
        ('{"question": "q", "answer": "#### 1", "completion": 4}', "must be strings or null"),
        ('{"question": "q", "answer": "#### 1", "completion": "4", "completion_tokens": "x"}', "completion_tokens"),
        ('{"question": "Not a GSM8K question", "completion": "4"}', "question not in task 'gsm8k' split 'test'"),
    ],
)
def test_malformed_predictions_name_the_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(PredictionsError, match=message):
        grade_predictions("gsm8k", path, tmp_path / "out")
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_in_memory_records_grade_like_a_file(tmp_path: Path) -> None:
    docs = get_task("gsm8k").docs(limit=3)
    records = [{"question": d["question"], "completion": d["answer"]} for d in docs]
    from_memory = grade_records("gsm8k", records, tmp_path / "memory")
    from_file = grade_predictions("gsm8k", write_jsonl(tmp_path / "p.jsonl", records), tmp_path / "file")
    assert (tmp_path / "memory" / "results.jsonl").read_text() == (tmp_path / "file" / "results.jsonl").read_text()
    assert {k: v for k, v in from_file.items() if k not in ("predictions", "results")} == {
        k: v for k, v in from_memory.items() if k != "results"
    }
    with pytest.raises(PredictionsError, match="record 1: field 'question' must be a string"):
        grade_records("gsm8k", [records[0], {"completion": "4"}], tmp_path / "bad")
    with pytest.raises(PredictionsError, match="no records"):
        grade_records("gsm8k", [], tmp_path / "bad")


def test_limit_grades_the_first_lines(tmp_path: Path) -> None:
    docs = get_task("gsm8k").docs(limit=5)
    rows = [{"question": d["question"], "completion": "The answer is 0."} for d in docs]
    summary = grade_predictions("gsm8k", write_jsonl(tmp_path / "p.jsonl", rows), tmp_path, limit=2)
    assert summary["items"] == 2 and summary["accuracy"] == 0.0
