"""The knowledge base behind the offline judge: every entity of both arena lists, with aliases, a category
path and yes/no attributes, loaded from the reviewable text files in `data/` and validated on load.

Things: `things_taxonomy.txt` (category tree with inherited defaults), `things_attributes.json` (attributes and
their question phrasings), `things_kb.txt` (one entity per line; the word `adjective` marks a name that is
also an adjective). Celebrities: `celebrities_occupations.txt` (occupation tree), `celebrities_attributes.json`
(fixed and derived attributes, flags, countries, regions), `celebrities_kb.txt` (one person per line: birth and
death years, sex, countries, occupations, flags). A value that is not known is absent, and the judge answers
"Maybe" to it. Any fault (unknown attribute or category, an alias naming two entities, a list entry missing
from the base) raises `KnowledgeBaseError` naming the file, line and value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

from agentkit.envs.base import EnvError
from agentkit.envs.entity_deduction.grammar import fold, phrase_key
from agentkit.envs.entity_deduction.lists import SPLITS, check_list_and_split, read_list

# Birth-year thresholds the expert may ask about ("Was this person born before 1950?"); the grammar reads
# any year, these are only the questions the expert chooses from.
BIRTH_YEAR_GRID = (-500, 500, 1000, 1500, 1600, 1700, 1750, 1800, 1850, 1875, 1900, 1910, 1920, 1930, 1940,
                   1950, 1955, 1960, 1965, 1970, 1975, 1980, 1985, 1990, 1995, 2000)


class KnowledgeBaseError(EnvError):
    """The shipped knowledge base is inconsistent; the message names the file, line and bad value."""


@dataclass(frozen=True)
class Attribute:
    name: str
    question: str  # the canonical question, as the expert asks it
    phrasings: tuple[str, ...]  # questions answered with the attribute's value
    negated: tuple[str, ...] = ()  # questions answered with its opposite ("Is it natural?" for man_made)
    doc: str = ""


@dataclass(frozen=True)
class Entity:
    name: str
    aliases: tuple[str, ...]  # every name the entity answers to, the main one first
    category: tuple[str, ...]  # things: the category path, root first; celebrities: the occupations
    facts: dict[str, bool] = field(hash=False)  # attribute -> value; an unknown value is absent
    birth_year: int | None = None
    death_year: int | None = None
    note: str = ""
    adjective: bool = False  # the name is also an adjective ("orange", "gold"): only "a/an/the <name>" guesses it


@dataclass
class KnowledgeBase:
    entity_list: str
    attributes: dict[str, Attribute]
    entities: list[Entity]
    excluded: dict[str, str]  # list names deliberately left out of the tasks -> why
    _by_alias: dict[str, Entity] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for entity in self.entities:
            for alias in entity.aliases:
                key = fold(alias)
                other = self._by_alias.get(key)
                if other is not None and other is not entity:
                    raise KnowledgeBaseError(
                        f"{self.entity_list}: alias {alias!r} names both {other.name!r} and {entity.name!r}"
                    )
                self._by_alias[key] = entity

    def find(self, name: str) -> Entity | None:
        return self._by_alias.get(fold(name))

    def entity(self, name: str) -> Entity:
        found = self.find(name)
        if found is None:
            raise EnvError(f"{self.entity_list}: no entity named {name!r} in the knowledge base")
        return found

    def split(self, split: str) -> list[Entity]:
        """The entities of one split, in list order, each once (list duplicates share one entity)."""
        seen: dict[str, Entity] = {}
        for names in read_list(self.entity_list, split):
            if names[0] in self.excluded:
                continue
            resolved = {id(e): e for e in (self.find(name) for name in names) if e is not None}
            if len(resolved) != 1 or any(self.find(name) is None for name in names):
                raise KnowledgeBaseError(
                    f"{self.entity_list}/{split}: list entry {' | '.join(names)!r} does not name exactly one "
                    "entity of the knowledge base"
                )
            entity = next(iter(resolved.values()))
            seen.setdefault(entity.name, entity)
        return list(seen.values())

    def answerable_attributes(self) -> list[str]:
        """Attributes with a known value for every entity: the only ones the expert asks about."""
        return [name for name in self.attributes if all(name in e.facts for e in self.entities)]


def _data(name: str) -> str:
    return (resources.files("agentkit.envs.entity_deduction") / "data" / name).read_text(encoding="utf-8")


def _lines(name: str) -> list[tuple[int, str, str]]:
    """(line number, content, comment) of the non-blank, non-comment lines of a data file."""
    rows = []
    for number, raw in enumerate(_data(name).splitlines(), start=1):
        content, _, comment = raw.partition("#")
        if content.strip():
            rows.append((number, content.strip(), comment.strip()))
    return rows


def _with_article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _question(text: str) -> str:
    return text[0].upper() + text[1:] + "?"


def _attributes_from_json(spec: dict[str, Any], where: str) -> dict[str, Attribute]:
    attributes = {}
    for name, entry in spec.items():
        if name.startswith("_"):
            continue
        phrasings = tuple(entry.get("phrasings", ()))
        if not phrasings:
            raise KnowledgeBaseError(f"{where}: attribute {name!r} has no phrasings")
        attributes[name] = Attribute(name, _question(phrasings[0]), phrasings, tuple(entry.get("negated", ())),
                                     entry.get("doc", ""))
    return attributes


def _parse_values(text: str, known: dict[str, Attribute], where: str) -> dict[str, bool | None]:
    """`+a -b ?c` -> {a: True, b: False, c: None}."""
    values: dict[str, bool | None] = {}
    for token in text.split():
        sign, name = token[0], token[1:]
        if sign not in "+-?" or name not in known:
            raise KnowledgeBaseError(f"{where}: unknown attribute value {token!r} (expected +name, -name, ?name)")
        values[name] = {"+": True, "-": False, "?": None}[sign]
    return values


def _apply(facts: dict[str, bool], values: dict[str, bool | None]) -> None:
    for name, value in values.items():
        if value is None:
            facts.pop(name, None)
        else:
            facts[name] = value


def _node_attribute(node: str) -> str:
    return "is_" + node.replace(" ", "_").replace("-", "_")


def _read_tree(file: str, known: dict[str, Attribute]) -> tuple[dict[str, str | None], dict[str, dict], dict]:
    """A category tree file: parents, default values and the category attributes ("Is it a bird?")."""
    parents: dict[str, str | None] = {}
    defaults: dict[str, dict[str, bool | None]] = {}
    attributes: dict[str, Attribute] = {}
    for number, content, _ in _lines(file):
        where = f"{file}:{number}"
        parts = [part.strip() for part in content.split("::")]
        if len(parts) != 3:
            raise KnowledgeBaseError(f"{where}: expected `node < parent :: defaults :: phrasings`, got {content!r}")
        node, _, parent = (text.strip() for text in parts[0].partition("<"))
        if node in parents:
            raise KnowledgeBaseError(f"{where}: category {node!r} is defined twice")
        if parent and parent not in parents:
            raise KnowledgeBaseError(f"{where}: parent {parent!r} of {node!r} is not defined above it")
        parents[node] = parent or None
        defaults[node] = _parse_values(parts[1], known, where)
        extra = [text.strip() for text in parts[2].split(",") if text.strip()]
        canonical = next((text[1:] for text in extra if text.startswith("=")), f"is it {_with_article(node)}")
        phrasings = [canonical, f"is it {node}", f"is it type of {node}"]
        phrasings += [text.lstrip("=") for text in extra]
        attributes[_node_attribute(node)] = Attribute(_node_attribute(node), _question(canonical),
                                                      tuple(dict.fromkeys(phrasings)), (), f"in category {node!r}")
    return parents, defaults, attributes


def _path(node: str, parents: dict[str, str | None]) -> tuple[str, ...]:
    path = [node]
    while (parent := parents[path[-1]]) is not None:
        path.append(parent)
    return tuple(reversed(path))


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split("|") if name.strip())


def _load_things() -> KnowledgeBase:
    spec = json.loads(_data("things_attributes.json"))
    sizes = {name: entry.pop("size_range") for name, entry in spec.items() if "size_range" in entry}
    attributes = _attributes_from_json(spec, "things_attributes.json")
    properties = {name: attr for name, attr in attributes.items() if name not in sizes}
    parents, defaults, node_attributes = _read_tree("things_taxonomy.txt", properties)
    attributes.update(node_attributes)
    entities = []
    for number, content, note in _lines("things_kb.txt"):
        where = f"things_kb.txt:{number}"
        parts = [part.strip() for part in content.split("::")]
        if len(parts) != 3:
            raise KnowledgeBaseError(f"{where}: expected `names :: category :: size=N values`, got {content!r}")
        names, node, values = _names(parts[0]), parts[1], parts[2].split()
        if node not in parents:
            raise KnowledgeBaseError(f"{where}: unknown category {node!r} for {names[0]!r}")
        if not values or not values[0].startswith("size=") or values[0][5:] not in "012345" or not values[0][5:]:
            raise KnowledgeBaseError(f"{where}: {names[0]!r} needs `size=0..5` first, got {parts[2]!r}")
        size = int(values[0][5:])
        adjective = "adjective" in values
        path = _path(node, parents)
        facts: dict[str, bool] = {}
        for step in path:
            _apply(facts, defaults[step])
        _apply(facts, _parse_values(" ".join(v for v in values[1:] if v != "adjective"), properties, where))
        missing = [name for name in properties if name not in facts and name not in defaults["thing"]]
        if missing:
            raise KnowledgeBaseError(f"{where}: attributes {missing} have no default and no value")
        for name, (low, high) in sizes.items():
            facts[name] = low <= size <= high
        for other in parents:
            facts[_node_attribute(other)] = other in path
        entities.append(Entity(names[0], names, path, facts, note=note, adjective=adjective))
    return KnowledgeBase("things", attributes, entities, excluded={})


def _load_celebrities() -> KnowledgeBase:
    spec = json.loads(_data("celebrities_attributes.json"))
    flags = _attributes_from_json(spec["flags"], "celebrities_attributes.json flags")
    attributes = dict(_attributes_from_json(spec["fixed"], "celebrities_attributes.json fixed"))
    attributes.update(flags)
    regions = _attributes_from_json(spec["regions"], "celebrities_attributes.json regions")
    countries: dict[str, tuple[str, list[str]]] = {}
    for country, entry in spec["countries"].items():
        for region in entry["regions"]:
            if region not in regions:
                raise KnowledgeBaseError(f"celebrities_attributes.json: country {country!r}: unknown region {region!r}")
        name = "from_" + fold(country).replace(" ", "_")
        phrasings = [f"is it from {country}", f"is it {entry['demonym']}", f"is it {entry['demonym']} person",
                     f"is it citizen of {country}", f"does it come from {country}",
                     f"is its nationality {entry['demonym']}",
                     *entry.get("phrasings", ())]
        attributes[name] = Attribute(name, _question(phrasings[1]), tuple(phrasings), (), f"a national of {country}")
        countries[country] = (name, entry["regions"])
    attributes.update(regions)
    parents, _, occupation_attributes = _read_tree("celebrities_occupations.txt", {})
    attributes.update(occupation_attributes)
    derived = _attributes_from_json(spec["derived"], "celebrities_attributes.json derived")
    for name, entry in spec["derived"].items():
        unknown = [part for part in entry["all_of"] if part not in attributes]
        if unknown:
            raise KnowledgeBaseError(f"celebrities_attributes.json: derived {name!r} uses unknown attributes {unknown}")
    attributes.update(derived)
    for year in BIRTH_YEAR_GRID:
        era = f"{-year} BC" if year < 0 else str(year)
        attributes[f"born_before_{year}"] = Attribute(
            f"born_before_{year}", f"Was this person born before {era}?", (), (), f"born before the year {era}"
        )
    entities, excluded = [], {}
    for number, content, note in _lines("celebrities_kb.txt"):
        where = f"celebrities_kb.txt:{number}"
        parts = [part.strip() for part in content.split("::")]
        names = _names(parts[0])
        if len(parts) == 2 and parts[1].startswith("!"):
            excluded[names[0]] = parts[1][1:].strip()
            continue
        if len(parts) != 7:
            raise KnowledgeBaseError(
                f"{where}: expected `names :: born :: died :: sex :: countries :: occupations :: flags`, "
                f"got {content!r}"
            )
        born, died, sex, nations, jobs, values = parts[1:]
        try:
            birth_year = int(born)
            death_year = None if died == "-" else int(died)
        except ValueError as exc:
            raise KnowledgeBaseError(f"{where}: years of {names[0]!r} must be integers or '-': {exc}") from exc
        if sex not in ("M", "F", "X"):
            raise KnowledgeBaseError(f"{where}: sex of {names[0]!r} must be M, F or X (non-binary), got {sex!r}")
        facts: dict[str, bool] = {"alive": death_year is None, "male": sex == "M", "real": True}
        if sex != "X":
            facts["female"] = sex == "F"
        facts.update({name: False for name in flags})
        for name, value in _parse_values(values, flags, where).items():
            if value is None:
                facts.pop(name)
            else:
                facts[name] = value
        held = [country.strip() for country in nations.split(",") if country.strip()]
        for country in held:
            if country not in countries:
                raise KnowledgeBaseError(f"{where}: unknown country {country!r} for {names[0]!r}")
        for country, (name, _) in countries.items():
            facts[name] = country in held
        for region in regions:
            facts[region] = any(region in countries[country][1] for country in held)
        occupations = tuple(job.strip() for job in jobs.split(",") if job.strip())
        path_nodes: set[str] = set()
        for job in occupations:
            if job not in parents:
                raise KnowledgeBaseError(f"{where}: unknown occupation {job!r} for {names[0]!r}")
            path_nodes.update(_path(job, parents))
        for node in parents:
            facts[_node_attribute(node)] = node in path_nodes
        for year in BIRTH_YEAR_GRID:
            facts[f"born_before_{year}"] = birth_year < year
        for name, entry in spec["derived"].items():
            facts[name] = all(facts[part] for part in entry["all_of"])
        entities.append(Entity(names[0], names, occupations, facts, birth_year, death_year, note))
    for name, attribute in attributes.items():  # the expert asks "Is this person ...?", not "Is it ...?"
        attributes[name] = replace(attribute, question=re.sub(r"\bit\b", "this person", attribute.question, count=1))
    return KnowledgeBase("celebrities", attributes, entities, excluded)


@cache
def load_kb(entity_list: str) -> KnowledgeBase:
    """The validated knowledge base of one list (loaded once per process)."""
    check_list_and_split(entity_list, "train")
    kb = _load_things() if entity_list == "things" else _load_celebrities()
    for split in SPLITS:
        kb.split(split)  # every list entry must resolve to one entity
    _check_phrasings(kb)
    return kb


def _check_phrasings(kb: KnowledgeBase) -> None:
    owner: dict[str, str] = {}
    for attribute in kb.attributes.values():
        for phrasing in (*attribute.phrasings, *attribute.negated):
            key = phrase_key(phrasing)
            if owner.get(key, attribute.name) != attribute.name:
                raise KnowledgeBaseError(
                    f"{kb.entity_list}: question {phrasing!r} maps to both {owner[key]!r} and {attribute.name!r}"
                )
            owner[key] = attribute.name
