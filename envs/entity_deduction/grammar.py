"""The question grammar: free-text yes/no questions to knowledge-base attributes, or to a guess.

Matching is exact after normalisation (case, accents, punctuation, contractions, the subject "the entity" /
"this person" / "he" -> "it", articles and hedges such as "usually" dropped, one "not" read as negation), so
a question either maps to one attribute or is reported unmapped; it is never guessed at. Tense is folded to
the present ("Was he...?" = "Is he...?"), so attributes of people read as "ever" (a president, an Oscar
winner). Birth-year questions ("Was this person born before 1950?", "...in the 19th century?") are read by
pattern.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_CONTRACTIONS = {
    "isn't": "is not", "aren't": "are not", "wasn't": "was not", "weren't": "were not", "doesn't": "does not",
    "don't": "do not", "didn't": "did not", "can't": "can not", "cannot": "can not", "couldn't": "could not",
    "hasn't": "has not", "haven't": "have not", "won't": "will not", "wouldn't": "would not",
    "it's": "it is", "he's": "he is", "she's": "she is", "they're": "they are",
}
# Longest first: multi-word subjects are replaced before their parts.
_SUBJECTS = sorted(
    [
        "the entity", "this entity", "your entity", "that entity", "the thing", "this thing", "your thing",
        "the object", "this object", "the item", "this item", "the person", "this person", "that person",
        "your person", "the celebrity", "this celebrity", "your celebrity", "the secret", "the answer",
        "the mystery person", "the mystery entity", "he or she", "he she", "she or he", "he", "she", "they",
        "this",
    ],
    key=len,
    reverse=True,
)
_POSSESSIVES = {"his": "its", "her": "its", "their": "its", "his or her": "its", "his her": "its"}
# Subject-verb agreement, and tense folded to the present ("Was he an actor?" asks what "Is he an actor?" asks).
_VERB_AGREEMENT = {"are it": "is it", "were it": "is it", "was it": "is it", "do it": "does it", "did it": "does it",
                   "have it": "has it"}
_DROPPED_WORDS = frozenset(
    "a an the usually typically generally commonly normally often mostly mainly primarily really actually "
    "currently still some any ever famous famously professional well-known notable former".split()
)
_DROPPED_PHRASES = sorted(
    ["best known as", "known as", "known for being", "famous for being", "mainly known as", "well known",
     "primarily known as", "considered", "kind of", "type of", "sort of", "form of", "or not"],
    key=len,
    reverse=True,
)
_LEADING_FILLERS = sorted(
    ["question", "ok", "okay", "so", "alright", "great", "hmm", "next question", "my question is", "then",
     "i want to ask", "let me ask", "tell me", "please", "well", "thanks", "thank you", "and", "now"],
    key=len,
    reverse=True,
)
_GUESS_PREFIXES = sorted(
    ["is it", "is it called", "is its name", "are you thinking of", "my guess is", "i guess", "i think it is",
     "could it be", "can it be", "might it be", "it is", "guess", "is answer", "answer is", "would it be",
     "am i right that it is", "is it named", "is it person named", "was it"],
    key=len,
    reverse=True,
)
_TOKEN = re.compile(r"[a-z0-9']+")
_SENTENCE_END = re.compile(r"[.?!]\s+|\n+")
_ABBREVIATION = re.compile(r"(?:(?:^|[\s.])[A-Z]|\b(?:Jr|Sr|Dr|Mr|Mrs|Ms|St))\.$")


def fold(text: str) -> str:
    """Lower case without accents or punctuation ("Beyoncé" -> "beyonce", "Post-it" -> "post it")."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = text.replace("’", "'").replace("-", " ").replace("/", " ").replace(".", " ")
    return " ".join(_TOKEN.findall(text))


def _replace_phrases(words: list[str], table: dict[str, str] | list[str]) -> list[str]:
    """Replace whole-word phrases (a list means: delete them)."""
    text = f" {' '.join(words)} "
    items = table.items() if isinstance(table, dict) else ((phrase, "") for phrase in table)
    for phrase, replacement in items:
        text = text.replace(f" {phrase} ", f" {replacement} " if replacement else " ")
    return text.split()


def _strip_leading(words: list[str], phrases: list[str]) -> list[str]:
    changed = True
    while changed and words:
        changed = False
        for phrase in phrases:
            parts = phrase.split()
            if words[: len(parts)] == parts and len(words) > len(parts):
                words, changed = words[len(parts):], True
                break
    return words


@dataclass(frozen=True)
class Normalized:
    """A question in canonical form: `text` with the negation removed and `negated` set instead."""

    text: str
    negated: bool


@lru_cache(maxsize=65536)
def normalize(question: str) -> Normalized:
    words = [_CONTRACTIONS.get(word, word) for word in fold(question).split()]
    words = " ".join(words).split()
    words = _strip_leading(words, _LEADING_FILLERS)
    words = _replace_phrases(words, {subject: "it" for subject in _SUBJECTS})
    words = _replace_phrases(words, _POSSESSIVES)
    words = _replace_phrases(words, _VERB_AGREEMENT)
    words = _replace_phrases(words, _DROPPED_PHRASES)
    words = [word for word in words if word not in _DROPPED_WORDS]
    negated = False
    if "not" in words:
        words.remove("not")
        negated = True
    return Normalized(" ".join(words), negated)


@lru_cache(maxsize=65536)
def last_question(text: str) -> str:
    """The question an agent's turn asks: its last sentence ending in "?", else the whole text.

    Agents often think aloud first ("Animals are likely. Is it a mammal?"); only the question is judged.
    """
    text = text.strip()
    end = text.rfind("?")
    if end < 0:
        return text
    body, start = text[: end + 1], 0
    for boundary in _SENTENCE_END.finditer(body, 0, end):
        if not _ABBREVIATION.search(body, 0, boundary.start() + 1):  # "J.K. Rowling", "Dr. Who"
            start = boundary.end()
    return body[start:].strip()


def phrase_key(phrasing: str) -> str:
    """The lookup key of a phrasing written in the data files (same normalisation, no negation)."""
    return normalize(phrasing).text


def guess_object(text: str) -> str:
    """What a normalised question names if it is a guess ("is it parrot" -> "parrot")."""
    return " ".join(_strip_leading(text.split(), _GUESS_PREFIXES))


def plural_variants(text: str) -> list[str]:
    """The text and its singular forms, so "is it birds" finds "is it bird"."""
    variants = [text]
    if text.endswith("ies"):
        variants.append(text[:-3] + "y")
    if text.endswith("es"):
        variants.append(text[:-2])
    if text.endswith("s"):
        variants.append(text[:-1])
    return variants


_ORDINAL = r"(\d{1,2})(?:st|nd|rd|th)"
_ERA = r"( bc| bce| before christ)?"
_BORN_YEAR = re.compile(rf"^is it born (before|after|in) (\d{{1,4}}){_ERA}$")
_BORN_DECADE = re.compile(r"^is it born in (\d{3,4})s$")
_BORN_CENTURY = re.compile(rf"^is it born (before|after|in) {_ORDINAL} century{_ERA}$")
_LIVED_CENTURY = re.compile(rf"^(?:does it live|is it alive|is it from) (?:in|during) {_ORDINAL} century{_ERA}$")


@dataclass(frozen=True)
class YearQuestion:
    """A birth-year question: born in [low, high] (inclusive, BCE negative), or lived during it."""

    low: int
    high: int
    lived: bool = False


def _century(number: int, bce: bool) -> tuple[int, int]:
    if bce:
        return -100 * number, -100 * (number - 1) - 1
    return 100 * (number - 1) + 1, 100 * number


def _bounded(relation: str, low: int, high: int) -> YearQuestion:
    if relation == "before":
        return YearQuestion(-10**6, low - 1)
    if relation == "after":
        return YearQuestion(high + 1, 10**6)
    return YearQuestion(low, high)


def parse_year_question(text: str) -> YearQuestion | None:
    if match := _BORN_YEAR.match(text):
        year = -int(match[2]) if match[3] else int(match[2])
        return _bounded(match[1], year, year)
    if match := _BORN_DECADE.match(text):
        start = int(match[1])
        return YearQuestion(start, start + 9)
    if match := _BORN_CENTURY.match(text):
        return _bounded(match[1], *_century(int(match[2]), bool(match[3])))
    if match := _LIVED_CENTURY.match(text):
        low, high = _century(int(match[1]), bool(match[2]))
        return YearQuestion(low, high, lived=True)
    return None
