"""The grader reads the answers real models write and agrees with human correctness labels."""

import json
from pathlib import Path

import pytest

from agentkit.eval.grader import (
    GraderError,
    extract,
    extract_answer,
    is_equivalent,
    parse_number,
    reference_answer,
)
from agentkit.eval.tasks import get_task

FIXTURE = Path(__file__).parent / "fixtures" / "math_completions.jsonl"
LABELLED = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("Janet makes 9 * 2 = 18 dollars a day.\nThe answer is 18.", "18"),
        ("**Answer:** $1,080", "1080"),
        (r"So the probability is \boxed{\frac{3}{4}}.", "0.75"),
        ("She makes 18 dollars", "18"),
        ("9 * 2 = <<9*2=18>>18\n#### 18", "18"),
        ("The total is $18.00.", "18"),
        ("The answer is 3/4.", "0.75"),
        ("The answer is 2,125,000 people.", "2125000"),
        ("The answer is 1,080.5", "1080.5"),
        ("The answer is 60%.", "60"),
        ("The answer is -5.", "-5"),
        ("The temperature fell to −12 degrees.", "-12"),
        ("20-2 = 18", "18"),
        ("The answer is .5", "0.5"),
        (r"\boxed{70{,}000}", "70000"),
        (r"\boxed{\$18}", "18"),
        (r"Final Answer: The final answer is $\frac{\sqrt{3}}{2}$. I hope it is correct.", r"\frac{\sqrt{3}}{2}"),
        ("The answer is:\n\n**42**", "42"),
        ("Answer: (16 - 3 - 4) * 2 = 18", "18"),
        ("<think>16 - 7 = 9, 9 * 2 = 18</think>\n<answer> 18 </answer>", "18"),
    ],
)
def test_extracts_each_answer_form(completion: str, expected: str) -> None:
    assert extract_answer(completion) == expected


@pytest.mark.parametrize("completion", ["", None, "   ", "I cannot tell without more information."])
def test_malformed_completions_have_no_answer(completion: str | None) -> None:
    assert extract(completion).answer is None
    assert not is_equivalent(extract_answer(completion), "18")


def test_two_numbers_without_a_cue_the_last_wins() -> None:
    result = extract("First I got 16, then I got 18")
    assert (result.answer, result.method) == ("18", "last_number")


def test_two_numbers_after_a_cue_the_first_wins() -> None:
    result = extract("So 16 + 2 = 18 in all.\nThe answer is 18 apples, 2 more than Ann has.")
    assert (result.answer, result.method) == ("18", "cue")


def test_the_last_cue_wins_after_a_self_correction() -> None:
    assert extract_answer("The answer is 26.\nWait, I forgot the muffins: 9 * 2 = 18.\nThe answer is 18.") == "18"


def test_a_hedge_between_two_numbers_gets_no_answer() -> None:
    """A hedge is wrong even when one of its numbers is right, as a human grader marks it."""
    result = extract("The answer is 16 or 18.")
    assert (result.answer, result.method) == (None, "hedged")
    assert extract_answer("The answer is 18 (or 18.0).") == "18"


def test_markdown_headings_are_not_gsm8k_markers() -> None:
    result = extract("#### Step 1: add\n3 + 4 = 7\n#### Step 2\nSo the total is 7.")
    assert (result.answer, result.method) == ("7", "last_number")


def test_extraction_order_is_configurable() -> None:
    completion = r"The answer is 17. #### 18 \boxed{19}"
    assert extract_answer(completion, ["boxed", "marker"]) == "19"
    assert extract_answer(completion, ["cue"]) == "17"
    assert extract_answer("The answer is 17.", ["marker"]) is None
    with pytest.raises(GraderError, match="'regex'"):
        extract_answer(completion, ["marker", "regex"])


@pytest.mark.parametrize(
    ("predicted", "reference", "equal"),
    [
        ("18", "18.00", True),
        ("0.75", "3/4", True),
        ("1080", "1,080", True),
        ("18 dollars", "18", True),
        ("1450001", "1450000", False),
        ("0.3333333", "1/3", True),
        ("0.33", "1/3", False),
        (r"\frac{\sqrt{3}}{2}", r"\dfrac{\sqrt3}{2}", True),
        ("(x+1)^2", "x^2+2x+1", True),
        ("5x", "5y", False),
        ("-3", "3", False),
        (None, "18", False),
    ],
)
def test_equivalence(predicted: str | None, reference: str, equal: bool) -> None:
    assert is_equivalent(predicted, reference) is equal


def test_without_symbolic_only_numbers_and_exact_strings_match() -> None:
    assert not is_equivalent("(x+1)^2", "x^2+2x+1", symbolic=False)
    assert is_equivalent("x^2+2x+1", "x^2+2x+1", symbolic=False)


def test_parse_number_rejects_expressions() -> None:
    assert parse_number("$1,080.00") == 1080
    assert parse_number("18 dollars") == 18
    for expression in ("5x", "Step 2", "x = 5", "5 + 3", r"\sqrt{2}", "2\\pi"):
        assert parse_number(expression) is None, expression


def test_reference_forms() -> None:
    assert reference_answer("She makes 9 * 2 = $18.\n#### 18") == "18"
    assert reference_answer("#### 1,080") == "1080"
    assert reference_answer(r"so the answer is \boxed{\frac{1}{2}}") == "0.5"
    assert reference_answer(r"\frac{\sqrt 3}{2}") == r"\frac{\sqrt 3}{2}"
    with pytest.raises(GraderError, match="non-empty"):
        reference_answer("  ")
    with pytest.raises(GraderError, match="no number"):
        reference_answer("#### ?")


@pytest.mark.parametrize("row", [r for r in LABELLED if "grader_limit" not in r], ids=lambda r: r["id"])
def test_agrees_with_labels_of_realistic_completions(row: dict) -> None:
    predicted = extract_answer(row["completion"])
    assert is_equivalent(predicted, reference_answer(row["reference"])) is row["correct"], predicted


@pytest.mark.parametrize("row", [r for r in LABELLED if "grader_limit" in r], ids=lambda r: r["id"])
@pytest.mark.xfail(strict=True, reason="documented limit of answer extraction (see `grader_limit`)")
def test_known_limits_still_disagree(row: dict) -> None:
    predicted = extract_answer(row["completion"])
    assert is_equivalent(predicted, reference_answer(row["reference"])) is row["correct"]


def test_fixture_covers_correct_and_wrong_answers_of_both_sources() -> None:
    sources = {(row["source"], row["correct"]) for row in LABELLED}
    assert sources == {("gsm8k/test", True), ("gsm8k/test", False), ("math-style", True), ("math-style", False)}


@pytest.mark.parametrize("split", ["train", "test"])
def test_gsm8k_reference_solutions_grade_100_percent_and_changed_ones_0(split: str) -> None:
    task = get_task("gsm8k")
    docs = task.docs(split=split)
    correct = changed_correct = 0
    for doc in docs:
        solution = doc["answer"]
        reference = task.reference(doc)
        correct += is_equivalent(extract_answer(solution), reference)
        head, final = solution.rsplit("####", 1)
        changed = f"{head}#### {parse_number(final) + 1}"
        changed_correct += is_equivalent(extract_answer(changed), reference)
    assert (correct, changed_correct) == (len(docs), 0)
