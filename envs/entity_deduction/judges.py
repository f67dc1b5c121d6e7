"""Judges: who knows the hidden entity and answers the guesser's questions "Yes", "No", "Maybe" or "Bingo!".

`KnowledgeBaseJudge` (default) is offline and deterministic: the grammar maps a question to one attribute of
the knowledge base, and a question it cannot map is answered "Maybe" and counted as unmapped. `LLMJudge` asks
any OpenAI-compatible endpoint with the arena's protocol (short answers, low temperature); a reply that is not
yes/no/maybe is answered "Maybe" and logged. Both decide "Bingo!" the same way: the question names the
entity or one of its aliases.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from agentkit.envs.base import EnvError
from agentkit.envs.entity_deduction.grammar import (
    YearQuestion,
    fold,
    guess_object,
    normalize,
    parse_year_question,
    phrase_key,
    plural_variants,
)
from agentkit.envs.entity_deduction.kb import Entity, KnowledgeBase

log = logging.getLogger(__name__)

YES, NO, MAYBE, BINGO = "Yes", "No", "Maybe", "Bingo!"


@dataclass(frozen=True)
class Judgement:
    answer: str  # one of YES, NO, MAYBE, BINGO
    attribute: str | None = None  # the knowledge-base attribute the question was mapped to, if any
    mapped: bool = True  # False: the judge could not read the question (counted, answered "Maybe")


class Judge(Protocol):
    def judge(self, entity: Entity, question: str) -> Judgement: ...


def names_entity(entity: Entity, question: str) -> bool:
    """A guess that names the entity: "Is it a parrot?", "Parrots?", "My guess is Lionel Messi"."""
    normalized = normalize(question)
    aliases = {phrase_key(alias) for alias in entity.aliases}
    return any(variant in aliases for variant in plural_variants(guess_object(normalized.text)))


def _with_article(question: str, name: str) -> bool:
    """Whether `name` follows "a", "an" or "the" in the question ("is it an orange" vs "is it orange")."""
    return re.search(rf"\b(a|an|the) {re.escape(name)}", fold(question)) is not None


def _lived_during(entity: Entity, question: YearQuestion) -> bool:
    assert entity.birth_year is not None
    end = entity.death_year if entity.death_year is not None else 10**6
    return entity.birth_year <= question.high and end >= question.low


class KnowledgeBaseJudge:
    """Answers from the knowledge base; never guesses at a question it cannot read."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._phrases: dict[str, tuple[str, bool]] = {}
        for attribute in kb.attributes.values():
            for phrasing in attribute.phrasings:
                self._phrases[phrase_key(phrasing)] = (attribute.name, False)
            for phrasing in attribute.negated:
                self._phrases[phrase_key(phrasing)] = (attribute.name, True)
        self._names = {phrase_key(alias): entity for entity in kb.entities for alias in entity.aliases}

    def attribute_of(self, question: str) -> tuple[str, bool] | None:
        """(attribute, negated) the question asks about, or None if the grammar cannot map it."""
        normalized = normalize(question)
        for text in plural_variants(normalized.text):
            if text in self._phrases:
                name, negated = self._phrases[text]
                return name, negated != normalized.negated
        return None

    def judge(self, entity: Entity, question: str) -> Judgement:
        if names_entity(entity, question):
            return Judgement(BINGO)
        normalized = normalize(question)
        mapped = self.attribute_of(question)
        if mapped is not None:
            name, negated = mapped
            value = entity.facts.get(name)
            if value is None:
                return Judgement(MAYBE, name)
            return Judgement(YES if value != negated else NO, name)
        year_question = parse_year_question(normalized.text) if entity.birth_year is not None else None
        if year_question is not None:
            if year_question.lived:
                value = _lived_during(entity, year_question)
            else:
                value = year_question.low <= entity.birth_year <= year_question.high
            return Judgement(YES if value != normalized.negated else NO, "birth_year")
        for variant in plural_variants(guess_object(normalized.text)):
            other = self._names.get(variant)
            if other is not None and (not other.adjective or _with_article(question, variant)):
                return Judgement(NO, "guess")  # a guess naming another entity of the list
        return Judgement(MAYBE, mapped=False)


# The arena's judge instructions (Zhang et al. 2023, appendix), with its reply format.
JUDGE_PROMPT = (
    "You are playing the game of 20 questions as the judge. The answer is the {kind}: {entity}. "
    "Based on your knowledge about the {kind} {entity}, respond to the following question or guess. "
    "Limit your response to only 'Yes.', 'No.', or 'Maybe.', with no explanation or other words. "
    "Never say the answer {entity} in your response. If the question is to solicit the answer, respond 'No.'."
)
_REPLY = re.compile(r"^\W*(yes|no|maybe)\b", re.IGNORECASE)


def parse_reply(reply: str) -> str | None:
    """'Yes.' / 'no' / 'Maybe, ...' -> YES / NO / MAYBE; None for anything else."""
    match = _REPLY.match(reply or "")
    return {"yes": YES, "no": NO, "maybe": MAYBE}[match[1].lower()] if match else None


class LLMJudge:
    """A judge played by a model behind any OpenAI-compatible chat-completions endpoint.

    Malformed replies are answered "Maybe", logged, and counted in `malformed_replies`. An unreachable
    endpoint raises `EnvError` after `timeout` seconds rather than hanging the episode.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        entity_kind: str = "thing",
        api_key: str = "EMPTY",
        temperature: float = 0.2,
        max_tokens: int = 8,
        timeout: float = 60.0,
    ) -> None:
        try:
            from openai import OpenAI
        except ImportError as exc:
            raise EnvError("the LLM judge needs the openai client: pip install 'agentkit[vllm]'") from exc

        self.model = model
        self.entity_kind = entity_kind
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.malformed_replies = 0
        self._client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=1)
        self._base_url = base_url

    def judge(self, entity: Entity, question: str) -> Judgement:
        if names_entity(entity, question):
            return Judgement(BINGO)
        from openai import OpenAIError

        messages = [
            {"role": "system", "content": JUDGE_PROMPT.format(kind=self.entity_kind, entity=entity.name)},
            {"role": "user", "content": question},
        ]
        try:
            response = self._client.chat.completions.create(
                model=self.model, messages=messages, temperature=self.temperature, max_tokens=self.max_tokens
            )
        except OpenAIError as exc:
            raise EnvError(f"LLM judge at {self._base_url} (model {self.model!r}) failed: {exc}") from exc
        reply = response.choices[0].message.content or "" if response.choices else ""
        answer = parse_reply(reply)
        if answer is None:
            self.malformed_replies += 1
            log.warning("LLM judge gave a malformed reply %r to %r; answering Maybe", reply, question)
            return Judgement(MAYBE, mapped=False)
        return Judgement(answer)
