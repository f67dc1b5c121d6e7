"""Final-answer extraction and equivalence for math benchmarks and math rewards.

Real completions state their answer in many ways ("The answer is 18.", "**Answer:** $1,080", "#### 18",
"\\boxed{\\frac{3}{4}}", "18 dollars"), so extraction tries explicit forms first and only then guesses.
Numbers are compared by value to six decimal places (fast, no sympy); anything that is not a
plain number (LaTeX expressions, intervals, matrices) goes to `math-verify`.

Extraction rules, tried in the order of `methods` (the first method that yields an answer wins):
- `marker`: the number after the last GSM8K `####` whose line holds just a number (so markdown
  headings like "#### Step 2" are skipped).
- `boxed`: the content of the last `\\boxed{...}` (or `\\fbox{...}`), as a number when it is one.
- `cue`: the last answer cue ("answer is", "answer:", "final answer is", `<answer>`, ...) followed by a number.
  Its answer span runs to the end of that sentence or line; when the span holds an equation the part
  after its last "=" counts. The first number of the span is the answer, so "The answer is 18 apples,
  2 more than Ann has" gives 18. A hedge between different numbers ("18 or 20") is not an answer,
  as a human grader would mark it, so it gets none (later methods are not tried).
- `last_number`: the last number in the completion (chain of thought usually ends with the result).
Numbers may carry a sign, thousands separators, decimals, a percent sign or currency; `a/b` and
`\\frac{a}{b}` are fractions. Number words ("eighteen") are not read.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from agentkit.errors import AgentkitError

METHODS = ("marker", "boxed", "cue", "last_number")
EXPLICIT_METHODS = ("marker", "boxed", "cue")
ABS_TOLERANCE = Fraction(1, 10**6)  # six decimal places, as math-verify rounds floats
MATH_VERIFY_TIMEOUT_S = 5

_NUMBER = re.compile(
    r"""
    (?<![\w.])                              # not the tail of a word or of a decimal
    (?=[-−]?\.?\d)                          # a digit follows: no empty matches
    (?P<sign>[-−])?
    (?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)?  # 1,080 or 1080
    (?P<dec>\.\d+)?
    (?:\s*/\s*(?P<den>\d+)(?!\.?\d))?      # a/b
    """,
    re.VERBOSE,
)
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*([-−]?\d+)\s*\}\s*\{\s*(\d+)\s*\}")
_LATEX_FRAC_DIGITS = re.compile(r"\\[dt]?frac(\d)(\d)")
_CUE = re.compile(
    r"(?:final\s+answer|answer)\s*(?:\*\*)?\s*(?:is\b:?|:|=|would\s+be\b|will\s+be\b|should\s+be\b)\s*(?:\*\*)?"
    r"|<answer>",
    re.IGNORECASE,
)
_MARKER = re.compile(r"####")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\n")
_UNIT_WORD = re.compile(r"[A-Za-z'’]{2,}[.,]?")
# A math-mode answer with LaTeX in it ("$\\frac{\\sqrt{3}}{2}$"); "$18" alone is currency, not LaTeX.
_LEADING_LATEX = re.compile(
    r"\$\$?([^$]*[\\^{][^$]*)\$\$?|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL
)
_HEDGE = re.compile(r"\bor\b|\band/or\b", re.IGNORECASE)


class GraderError(AgentkitError, ValueError):
    """A bad grader option or a reference answer that cannot be read."""


@dataclass(frozen=True)
class Extraction:
    """The answer read from a completion and the rule that found it (`None` when nothing was found)."""

    answer: str | None
    method: str | None


def _clean(text: str) -> str:
    """Rewrite LaTeX and currency spellings of numbers as plain text numbers."""
    text = _LATEX_FRAC.sub(r"\1/\2", text)
    text = _LATEX_FRAC_DIGITS.sub(r"\1/\2", text)
    text = text.replace("{,}", ",").replace("\\!", "").replace("\\%", "%").replace("\\$", "")
    text = re.sub(r"(?<=\d)\\,(?=\d{3})", "", text)
    return text.replace("$", "").replace("−", "-")


def _to_fraction(match: re.Match[str]) -> Fraction | None:
    integer, decimal, denominator = match["int"], match["dec"], match["den"]
    if integer is None and decimal is None:
        return None
    value = Fraction((integer or "0").replace(",", "") + (decimal or ""))
    if denominator is not None:
        if int(denominator) == 0 or decimal is not None:
            return None
        value /= int(denominator)
    return -value if match["sign"] else value


def _numbers(text: str) -> list[tuple[Fraction, int, int]]:
    """Every number in already-cleaned text, as (value, start, end)."""
    found = []
    for match in _NUMBER.finditer(text):
        value = _to_fraction(match)
        if value is not None:
            found.append((value, match.start(), match.end()))
    return found


def format_number(value: Fraction) -> str:
    """The canonical spelling: integers plainly, finite decimals as decimals, else `a/b`."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator == 1:
        return format(float(value), ".15g") if abs(value) < 10**15 else str(value)
    return f"{value.numerator}/{value.denominator}"


def parse_number(text: str) -> Fraction | None:
    """The value of `text` when it is one number, else None.

    Currency, a percent sign and unit words set apart by a space after it are allowed ("$18.00", "18 dollars",
    "75%"); a letter glued to the number ("5x") or any operator makes it an expression, not a number.
    """
    cleaned = re.sub(r"\\(?:text|mathrm|mbox)\s*\{([^{}]*)\}", r" \1 ", _clean(text))
    numbers = _numbers(cleaned)
    if len(numbers) != 1:
        return None
    value, start, end = numbers[0]
    if cleaned[:start].strip(" \t\n{}()") or cleaned[end : end + 1].isalpha():
        return None
    rest = cleaned[end:].replace("%", " ").strip(" \t\n.{}()")
    if not all(_UNIT_WORD.fullmatch(word) for word in rest.split()):
        return None
    return value


def _last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}`, with nested braces balanced."""
    starts = list(_BOXED.finditer(text))
    if not starts:
        return None
    begin = starts[-1].end()
    depth = 1
    for index in range(begin, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[begin:index].strip()
    return None


def _from_marker(text: str) -> str | None:
    """The number on the line after the last `####` that holds only a number (markdown headings skipped)."""
    for marker in reversed(list(_MARKER.finditer(text))):
        value = parse_number(text[marker.end() :].split("\n", 1)[0])
        if value is not None:
            return format_number(value)
    return None


def _from_boxed(text: str) -> str | None:
    content = _last_boxed(text)
    if not content:
        return None
    value = parse_number(content)
    return format_number(value) if value is not None else content


class _Hedged(Exception):
    """A cue's answer names two different numbers ("18 or 20"): the completion gets no answer."""


def _span_answer(span: str) -> str | None:
    """The answer stated right after one cue, or None when the span has no number."""
    span = span.replace("\\$", "").lstrip(" \t\n*:")
    latex = _LEADING_LATEX.match(span)
    if latex:
        content = next(group for group in latex.groups() if group is not None).rsplit("=", 1)[-1].strip()
        value = parse_number(content)
        return format_number(value) if value is not None else content
    span = _clean(span)
    end = _SENTENCE_END.search(span)
    span = (span[: end.start()] if end else span).rsplit("=", 1)[-1]
    numbers = _numbers(span)
    if not numbers:
        return None
    first, _, first_end = numbers[0]
    for value, start, _ in numbers[1:]:
        if value != first and _HEDGE.search(span[first_end:start]):
            raise _Hedged
    return format_number(first)


def _from_cue(text: str) -> str | None:
    for cue in reversed(list(_CUE.finditer(text))):
        answer = _span_answer(text[cue.end() :])
        if answer is not None:
            return answer
    return None


def _from_last_number(text: str) -> str | None:
    numbers = _numbers(_clean(text))
    return format_number(numbers[-1][0]) if numbers else None


_EXTRACTORS = {
    "marker": _from_marker,
    "boxed": _from_boxed,
    "cue": _from_cue,
    "last_number": _from_last_number,
}


def check_methods(methods: Sequence[str]) -> tuple[str, ...]:
    """Validate an extraction order; the error names the unknown method."""
    if isinstance(methods, str) or not methods:
        raise GraderError(f"extraction methods must be a non-empty list of {METHODS}, got {methods!r}")
    for method in methods:
        if method not in _EXTRACTORS:
            raise GraderError(f"unknown extraction method {method!r}; known: {', '.join(METHODS)}")
    return tuple(methods)


def extract(completion: str | None, methods: Sequence[str] = METHODS) -> Extraction:
    """Read the final answer of a completion with the first method (in order) that finds one."""
    for method in check_methods(methods):
        if not completion:
            break
        try:
            answer = _EXTRACTORS[method](completion)
        except _Hedged:
            return Extraction(None, "hedged")
        if answer is not None:
            return Extraction(answer, method)
    return Extraction(None, None)


def extract_answer(completion: str | None, methods: Sequence[str] = METHODS) -> str | None:
    """The final answer of a completion (see the module docstring for the rules), or None."""
    return extract(completion, methods).answer


def reference_answer(text: str) -> str:
    """The gold answer of a reference: after GSM8K's `####`, inside MATH's `\\boxed{}`, else the text.

    Raises GraderError for an empty reference (a data set row without an answer).
    """
    if not isinstance(text, str) or not text.strip():
        raise GraderError(f"reference answer must be a non-empty string, got {text!r:.80}")
    if _MARKER.search(text):
        answer = _from_marker(text)
        if answer is None:
            raise GraderError(f"reference has '####' but no number after it: {text[-80:]!r}")
        return answer
    boxed = _from_boxed(text)
    if boxed is not None:
        return boxed
    value = parse_number(text)
    return format_number(value) if value is not None else text.strip()


def _numbers_equal(predicted: Fraction, reference: Fraction) -> bool:
    return abs(predicted - reference) < ABS_TOLERANCE


def _math_verify_equal(predicted: str, reference: str) -> bool:
    """Symbolic equivalence by math-verify (imported here: sympy is slow to import)."""
    from math_verify import parse, verify

    # math-verify's timeout uses SIGALRM, which only the main thread may set.
    timeout = MATH_VERIFY_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    try:
        gold = parse(f"${reference}$", parsing_timeout=timeout)
        target = parse(f"${predicted}$", parsing_timeout=timeout)
        return bool(gold and target and verify(gold, target, timeout_seconds=timeout))
    except Exception:  # math-verify raises assorted sympy errors (and its timeout) on odd input
        return False


def is_equivalent(predicted: str | None, reference: str, *, symbolic: bool = True) -> bool:
    """Whether an extracted answer equals the reference answer.

    Two numbers compare by value (18 == 18.00 == 36/2). Otherwise, with `symbolic`, math-verify decides
    (\\frac{\\sqrt{3}}{2} == \\sqrt{3}/2); without it, only an exact string match counts.
    """
    if predicted is None:
        return False
    predicted_value, reference_value = parse_number(predicted), parse_number(reference)
    if predicted_value is not None and reference_value is not None:
        return _numbers_equal(predicted_value, reference_value)
    if predicted.strip() == reference.strip():
        return True
    return symbolic and _math_verify_equal(predicted, reference)
