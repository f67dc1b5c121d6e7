"""A scripted teacher for the arithmetic benchmark: a rule-based solver behind the `Backend` interface.

Metacognitive reuse needs a teacher that writes long reasoning, reflects on it and follows behaviors in
its prompt; no model of a few million parameters can, and no real one can be downloaded here. This
scripted teacher (a fake model, named as such everywhere) answers the three prompts of
`agentkit.methods.behavior_handbook.behaviors` for `agentkit.eval.arithmetic` problems:

- solve: a correct, verbose trace (restates the question, explains what each sentence means, checks every
  step by undoing it, restates the count). Each behavior it finds in its prompt removes the verbosity
  that behavior makes unnecessary, so with its whole handbook in context it writes only the equations;
- reflect: names what in its trace was redundant or reusable;
- extract: writes those procedures as `behavior_name: instruction` lines.

Run through the real extraction pipeline it yields the handbook whose behaviors then shorten its traces.
"""

from __future__ import annotations

import hashlib
import re

from agentkit.errors import AgentkitError
from agentkit.eval.arithmetic import compute
from agentkit.methods.behavior_handbook.behaviors import EXTRACT_TEMPLATE, REFLECT_TEMPLATE, behavior_lines
from agentkit.rollout.backend import Backend, Messages
from agentkit.rollout.sampling import Completion, SamplingParams

# The procedures the scripted teacher reuses, name -> instruction: what its extraction writes.
BEHAVIORS: dict[str, str] = {
    "behavior_skip_restating": "do not restate the question or the answer in words; go from the first quantity "
    "to '#### n'",
    "behavior_running_total": "keep one running total and apply each operation to it, writing only "
    "'total op n = new total'",
    "behavior_exact_steps": "whole-number steps with small numbers are exact: state each result once, without "
    "a check step",
    "behavior_more_means_add": "'buys n more' adds n to the total",
    "behavior_give_away_means_subtract": "'gives away n' subtracts n from the total",
    "behavior_doubles_triples_multiply": "'doubles' multiplies the total by 2 and 'triples' by 3",
    "behavior_equal_bags_divide": "'puts them into n equal bags and keeps one bag' divides the total by n",
}
_OP_BEHAVIOR = {"+": "behavior_more_means_add", "-": "behavior_give_away_means_subtract",
                "*": "behavior_doubles_triples_multiply", "/": "behavior_equal_bags_divide"}
_MEANING = {"+": "Buying more means adding {n}.", "-": "Giving away means subtracting {n}.",
            "*": "{verb} means multiplying by {n}.", "/": "Keeping one of {n} equal bags means dividing by {n}."}
_MEANING_CUE = {"+": "means adding", "-": "means subtracting", "*": "means multiplying", "/": "means dividing"}
_INVERSE = {"+": "-", "-": "+", "*": "/", "/": "*"}
_START = re.compile(r"(?P<name>[A-Z]\w*) has (?P<start>\d+) (?P<items>\w+)\.")
_ACTION = re.compile(
    r"(?P<text>(?:[Hh]e|[Ss]he) (?:buys (?P<add>\d+) more|gives away (?P<sub>\d+)|(?P<mul>doubles|triples) them"
    r"|puts them into (?P<div>\d+) equal bags and keeps one bag))"
)
_EXPRESSION = re.compile(r"What is ([\d\s+\-*/()]+)\?")
_QUESTION = re.compile(r"Question: (.+?)\nAnswer:", re.DOTALL)
_REFLECT_HEAD = REFLECT_TEMPLATE.split("{")[0]
_EXTRACT_HEAD = EXTRACT_TEMPLATE.split("{")[0]


class ScriptedTeacherError(AgentkitError, ValueError):
    """A prompt the scripted teacher cannot read (it knows only arithmetic benchmark problems)."""


def parse_problem(question: str) -> tuple[dict[str, str] | None, int, list[tuple[str, int, str]]]:
    """(who and what for a word problem, else None; the start value; the steps as (op, n, sentence))."""
    words = _START.search(question)
    if words:
        steps = []
        for match in _ACTION.finditer(question):
            if match["mul"]:
                steps.append(("*", 2 if match["mul"] == "doubles" else 3, match["text"]))
            else:
                op = next(o for o, key in (("+", "add"), ("-", "sub"), ("/", "div")) if match[key])
                steps.append((op, int(match[{"+": "add", "-": "sub", "/": "div"}[op]]), match["text"]))
        return {"name": words["name"], "items": words["items"]}, int(words["start"]), steps
    expression = _EXPRESSION.search(question)
    if not expression:
        raise ScriptedTeacherError(f"the scripted teacher cannot read the problem {question!r}")
    tokens = expression[1].replace("(", " ").replace(")", " ").split()
    steps = [(tokens[i], int(tokens[i + 1]), "") for i in range(1, len(tokens) - 1, 2)]
    return None, int(tokens[0]), steps


def solve(question: str, behaviors: set[str] = frozenset()) -> str:
    """The scripted trace for a problem: verbose by default, each known behavior in `behaviors` dropping
    the lines it makes unnecessary. Always correct."""
    story, value, steps = parse_problem(question)
    restate = "behavior_skip_restating" not in behaviors
    total_only = "behavior_running_total" in behaviors
    check = "behavior_exact_steps" not in behaviors
    count = (lambda v: f"So {story['name']} has {v} {story['items']}.") if story else (lambda v: f"So it is {v}.")
    lines = []
    if restate:
        lines.append(f"We need to find how many {story['items']} {story['name']} has now." if story
                     else f"We need to compute {question.removeprefix('What is ').rstrip('?')}.")
    if not total_only:
        lines.append(f"{story['name']} has {value} {story['items']}." if story else f"Start with {value}.")
    for op, n, sentence in steps:
        result = compute(op, value, n)
        if story and not total_only:
            lines.append(sentence[0].upper() + sentence[1:] + ".")
        if story and _OP_BEHAVIOR[op] not in behaviors:
            lines.append(_MEANING[op].format(n=n, verb="Doubling" if n == 2 else "Tripling"))
        lines.append(f"{value} {op} {n} = {result}.")
        if check:
            lines.append(f"Check: {result} {_INVERSE[op]} {n} = {value}, so the step is right.")
        if not total_only:
            lines.append(count(result))
        value = result
    if restate:
        lines.append(f"The answer: {story['name']} has {value} {story['items']} now." if story
                     else f"The answer is {value}.")
    return "\n".join(lines + [f"#### {value}"])


def reflect(question: str, trace: str) -> str:
    """What the scripted teacher notices in its own trace: redundant lines and reusable readings."""
    notes = ["The solution is correct."]
    if trace.startswith("We need to find") or trace.startswith("We need to compute"):
        notes.append("Restating the question and the answer in words adds nothing.")
    if "So " in trace:
        notes.append("Writing the count after every step repeats the running total.")
    if "Check:" in trace:
        notes.append("Undoing every step to check it is redundant for exact whole-number steps.")
    for op, cue in _MEANING_CUE.items():
        if cue in trace:
            notes.append(f"Reading the words as an operation ({op}) is a reusable step.")
    return " ".join(notes)


def extract(question: str, reflection: str) -> str:
    """The behavior lines for a reflection; names are spelled a little differently from trace to trace,
    as a model would, so the handbook's merge has work to do."""
    names = []
    if "Restating" in reflection:
        names.append("behavior_skip_restating")
    if "running total" in reflection:
        names.append("behavior_running_total")
    if "Undoing" in reflection:
        names.append("behavior_exact_steps")
    names += [_OP_BEHAVIOR[op] for op in re.findall(r"operation \(([-+*/])\)", reflection)]
    variant = int(hashlib.sha256(question.encode()).hexdigest(), 16) % 3
    spell = [str, lambda n: n.replace("_", "-"), lambda n: n.replace("_", " ").title()][variant]
    return "\n".join(f"- {spell(name)}: {BEHAVIORS[name]}" for name in names)


class ScriptedArithmeticTeacher(Backend):
    """The scripted teacher as a backend, so the recipe and the extraction pipeline drive it exactly as
    they drive a model. Sampling parameters are ignored: it is deterministic."""

    name = "scripted"

    def _answer(self, prompt: str) -> str:
        question = _QUESTION.search(prompt)
        if not question:
            raise ScriptedTeacherError(f"no 'Question: ...\\nAnswer:' in the prompt {prompt[:80]!r}")
        if prompt.startswith(_REFLECT_HEAD):
            return reflect(question[1], prompt[question.end():].split("\n\n")[0].strip())
        if prompt.startswith(_EXTRACT_HEAD):
            return extract(question[1], prompt.split("Reflection: ", 1)[1].split("\n\n")[0])
        return solve(question[1], set(behavior_lines(prompt)) & set(BEHAVIORS))

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        results = []
        for messages in prompts:
            try:
                text = self._answer(messages[-1]["content"])
                results.append([Completion(text)] * params.n)
            except ScriptedTeacherError as exc:
                results.append([Completion.failed(str(exc))] * params.n)
        return results
