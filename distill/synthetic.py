"""The synthetic default task: a SQuAD-2.0-format corpus generated from a seed.

Rows have the ``squad_v2`` layout that :mod:`distill.data` reads and turns into features
(Rajpurkar, Jia & Liang, "Know What You Don't Know: Unanswerable Questions for SQuAD",
ACL 2018): about a third of the questions are unanswerable, and dev rows may carry a second,
longer gold phrasing, as the real dev set does. The corpus is deterministic in its seed:
the same seed gives the same rows, byte for byte.

Paragraphs describe two or three invented entities of one kind (people, towns or
organisations). Entities of a paragraph share attribute types, so a question about one of
them always has a same-typed distractor answer nearby; every fact is stated by one of
several sentence templates and asked by one of several question templates. Unanswerable
questions ask for an attribute the paragraph states only for another entity, about an
entity the paragraph never mentions (sometimes sharing a name part with one it does), or
for an attribute nobody in the paragraph has.

Template syntax: "{E}" is the subject mention, "{v}" the value (the gold answer), and
"<...>" brackets a longer phrase that is also a gold answer on dev (e.g. "in 1912").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["synthetic_squad"]

_ONSETS = ("b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kl", "l", "m", "n", "p", "pr",
           "qu", "r", "s", "st", "t", "tr", "v", "vr", "z", "zh", "th", "sk", "")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ei", "ou", "ya", "io")
_CODAS = ("", "", "", "n", "r", "l", "s", "th", "m", "x", "nd", "rk")
_PLACE_SUFFIX = ("ia", "burg", "ton", "ova", "stad", "mere", "ford", "ane", "")
_ORG_KIND = ("Institute", "Company", "Society", "Foundation", "Works", "Bank", "Museum",
             "Academy", "Press", "Guild")
_OCCUPATIONS = ("chemist", "painter", "architect", "sailor", "surgeon", "botanist", "lawyer",
                "composer", "engineer", "astronomer", "weaver", "poet", "banker", "geologist",
                "carpenter", "teacher", "printer", "historian", "glassblower", "cartographer")
_PRODUCTS = ("bicycles", "lamps", "clocks", "pianos", "telescopes", "rope", "glassware",
             "maps", "textbooks", "boats", "radios", "violins", "tiles", "candles", "sails")


def _syllable(rng: np.random.Generator) -> str:
    return (_ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))]
            + _CODAS[rng.integers(len(_CODAS))])


def _word(rng: np.random.Generator, lo: int, hi: int) -> str:
    w = "".join(_syllable(rng) for _ in range(int(rng.integers(lo, hi + 1))))
    return w[:1].upper() + w[1:]


def _place_name(rng: np.random.Generator) -> str:
    return _word(rng, 1, 2) + _PLACE_SUFFIX[rng.integers(len(_PLACE_SUFFIX))]


def _year(rng: np.random.Generator) -> str:
    return str(int(rng.integers(1650, 2021)))


def _count(rng: np.random.Generator, lo: int, hi: int) -> str:
    # log-uniform so small and large numbers both occur; thousands separated as in prose
    return f"{int(np.exp(rng.uniform(np.log(lo), np.log(hi)))):,}"


@dataclass(frozen=True)
class _Attr:
    name: str
    value: Any                        # (rng) -> value text
    statements: tuple[str, ...]       # templates with {E}, {v} and optional <...>
    questions: tuple[str, ...]        # templates with {e}


_PERSON_ATTRS = (
    _Attr("birthplace", _place_name,
          ("{E} was born in {v}.", "{E} was a native of {v}.", "{E} grew up in {v}, where "
           "{P} was born."),
          ("Where was {e} born?", "In which town was {e} born?", "What was the birthplace of {e}?",
           "{e} was born where?", "Which town was {e} a native of?")),
    _Attr("birth_year", lambda rng: "{born}",
          ("{E} was born <in {v}>.", "{E} was born <in the year {v}>."),
          ("When was {e} born?", "In what year was {e} born?", "What year was {e} born in?",
           "What is the birth year of {e}?")),
    _Attr("death_year", lambda rng: "{died}",
          ("{E} died <in {v}>.", "{E} passed away <in {v}>."),
          ("When did {e} die?", "In what year did {e} die?", "What year did {e} pass away?",
           "When did {e} pass away?")),
    _Attr("occupation", lambda rng: _OCCUPATIONS[rng.integers(len(_OCCUPATIONS))],
          ("{E} worked as <{a} {v}>.", "{E} was trained as <{a} {v}>.",
           "{E} earned a living as <{a} {v}>."),
          ("What did {e} work as?", "What was the profession of {e}?", "What was {e}'s job?",
           "What was {e} trained as?")),
    _Attr("founded", lambda rng: _word(rng, 1, 2) + " " + _ORG_KIND[rng.integers(len(_ORG_KIND))],
          ("{E} founded <the {v}>.", "{E} established <the {v}>.", "{E} set up <the {v}>."),
          ("What did {e} found?", "Which organisation was established by {e}?",
           "What organization did {e} set up?", "What was founded by {e}?")),
    _Attr("moved_to", _place_name,
          ("{E} later moved to {v}.", "{E} eventually settled in {v}.", "{E} relocated to {v}."),
          ("Where did {e} move to?", "In which town did {e} settle?", "Where did {e} relocate?",
           "Where did {e} eventually live?")),
    _Attr("books", lambda rng: _count(rng, 2, 90),
          ("{E} wrote <{v} books>.", "{E} was the author of <{v} books>.",
           "{E} published <{v} books>."),
          ("How many books did {e} write?", "How many books has {e} published?",
           "What number of books did {e} author?")),
)

_TOWN_ATTRS = (
    _Attr("population", lambda rng: _count(rng, 800, 2_000_000),
          ("{E} has a population of {v}.", "{E} is home to <{v} people>.",
           "About <{v} people> live in {E}."),
          ("What is the population of {e}?", "How many people live in {e}?",
           "How many inhabitants does {e} have?")),
    _Attr("river", lambda rng: _word(rng, 1, 2),
          ("{E} lies on <the {v} River>.", "{E} was built on the banks of <the {v} River>."),
          ("Which river does {e} lie on?", "On what river is {e} located?",
           "What river flows through {e}?")),
    _Attr("town_founded", _year,
          ("{E} was founded <in {v}>.", "{E} dates back <to {v}>.", "{E} received its charter "
           "<in {v}>."),
          ("When was {e} founded?", "In what year was {e} founded?", "How far back does {e} date?",
           "When did {e} get its charter?")),
    _Attr("mayor", lambda rng: _word(rng, 1, 2) + " " + _word(rng, 2, 2),
          ("{E} is governed by its mayor, {v}.", "{E} elected {v} as mayor.",
           "{E} is led by the mayor {v}."),
          ("Who is the mayor of {e}?", "Who governs {e}?", "Who was elected mayor of {e}?")),
    _Attr("region", lambda rng: _word(rng, 2, 2) + "ia",
          ("{E} is the capital of {v}.", "{E} serves as the capital of the province of {v}."),
          ("What is {e} the capital of?", "Of which province is {e} the capital?",
           "Which region has {e} as its capital?")),
)

_ORG_ATTRS = (
    _Attr("founder", lambda rng: _word(rng, 1, 2) + " " + _word(rng, 2, 2),
          ("{E} was founded by {v}.", "{E} was started by {v}.", "{E} owes its existence to {v}."),
          ("Who founded {e}?", "Who established {e}?", "Who was the founder of {e}?",
           "By whom was {e} started?")),
    _Attr("org_year", _year,
          ("{E} was established <in {v}>.", "{E} opened its doors <in {v}>."),
          ("When was {e} established?", "In which year was {e} established?",
           "What year did {e} open?")),
    _Attr("headquarters", _place_name,
          ("{E} is based in {v}.", "{E} has its headquarters in {v}.", "{E} is run from {v}."),
          ("Where is {e} based?", "Where is {e} headquartered?",
           "In which town are the headquarters of {e}?")),
    _Attr("employees", lambda rng: _count(rng, 12, 60_000),
          ("{E} employs <{v} people>.", "{E} has a staff of {v}.", "{E} has <{v} employees>."),
          ("How many people does {e} employ?", "How many employees does {e} have?",
           "How large is the staff of {e}?")),
    _Attr("product", lambda rng: _PRODUCTS[rng.integers(len(_PRODUCTS))],
          ("{E} makes {v}.", "{E} is known for its {v}.", "{E} produces {v}."),
          ("What does {e} make?", "What does {e} produce?", "What is {e} known for making?")),
)


class _Entity:
    def __init__(self, kind: str, rng: np.random.Generator) -> None:
        self.kind = kind
        self.female = bool(rng.integers(2))
        # a lifespan, so that a person's birth and death years are consistent
        self.born = int(rng.integers(1650, 1960))
        self.died = self.born + int(rng.integers(28, 96))
        if kind == "person":
            self.first, self.last = _word(rng, 1, 2), _word(rng, 2, 2)
            self.full = f"{self.first} {self.last}"
        elif kind == "town":
            self.full = _place_name(rng)
        else:
            self.full = "the " + _word(rng, 1, 2) + " " + _ORG_KIND[rng.integers(len(_ORG_KIND))]

    def key(self) -> str:
        return self.full.lower()

    @property
    def pronoun(self) -> str:
        if self.kind != "person":
            return "it"
        return "she" if self.female else "he"

    @property
    def short(self) -> str:
        return self.last if self.kind == "person" else self.full


_KINDS = {"person": _PERSON_ATTRS, "town": _TOWN_ATTRS, "org": _ORG_ATTRS}


def _render(template: str, subject: str, value: str, pronoun: str) -> tuple[str, int, int, int]:
    """Fill a statement template; return (text, value start, phrase start, phrase end)."""
    out: list[str] = []
    pos = 0
    v_start = ph_start = ph_end = -1
    i = 0
    while i < len(template):
        if template.startswith("{E}", i):
            piece, i = subject, i + 3
        elif template.startswith("{P}", i):
            piece, i = pronoun, i + 3
        elif template.startswith("{a}", i):
            piece, i = ("an" if value[:1].lower() in "aeiou" else "a"), i + 3
        elif template.startswith("{v}", i):
            v_start, piece, i = pos, value, i + 3
        elif template[i] == "<":
            ph_start, piece, i = pos, "", i + 1
        elif template[i] == ">":
            ph_end, piece, i = pos, "", i + 1
        else:
            piece, i = template[i], i + 1
        out.append(piece)
        pos += len(piece)
    text = "".join(out)
    return text[:1].upper() + text[1:], v_start, ph_start, ph_end


def _paragraph(
    rng: np.random.Generator, n_questions: int, with_extras: bool, id_prefix: str, start: int
) -> list[dict]:
    kind = ("person", "person", "town", "org")[rng.integers(4)]
    attrs = _KINDS[kind]
    n_ent = 2 if rng.random() < 0.85 else 3
    names: set[str] = set()
    ents: list[_Entity] = []
    while len(ents) < n_ent:
        e = _Entity(kind, rng)
        if e.key() not in names and (kind != "person" or e.last not in {x.last for x in ents}):
            names.add(e.key())
            ents.append(e)
    # attribute subsets: the first two entities share at least one attribute type
    n_attr = len(attrs)
    chosen: list[list[int]] = []
    for _ in range(n_ent):
        k = int(rng.integers(2, 4))
        chosen.append(sorted(rng.choice(n_attr, size=k, replace=False).tolist()))
    if not set(chosen[0]) & set(chosen[1]):
        chosen[1][0] = chosen[0][0]
        chosen[1] = sorted(set(chosen[1]))
    used_values: set[str] = {e.key() for e in ents}
    facts: dict[tuple[int, int], tuple[str, int, list[tuple[str, int]]]] = {}
    parts: list[str] = []
    pos = 0
    order = list(range(n_ent))
    rng.shuffle(order)
    for j in order:
        ent = ents[j]
        for s_i, a in enumerate(chosen[j]):
            attr = attrs[a]
            value = attr.value(rng).format(born=ent.born, died=ent.died)
            while value.lower() in used_values:
                if value in (str(ent.born), str(ent.died)):  # clash with another lifespan
                    ent.born, ent.died = ent.born + 1, ent.died + 1
                value = attr.value(rng).format(born=ent.born, died=ent.died)
            used_values.add(value.lower())
            if s_i == 0:
                subj = ent.full
            else:
                r = rng.random()
                subj = ent.pronoun if r < 0.4 else (ent.short if r < 0.7 else ent.full)
            tmpl = attr.statements[rng.integers(len(attr.statements))]
            text, v0, p0, p1 = _render(tmpl, subj, value, ent.pronoun)
            base = pos + (1 if parts else 0)
            golds = [(value, base + v0)]
            if p0 >= 0 and with_extras:
                phrase = text[p0:p1]
                if phrase != value:
                    golds.append((phrase, base + p0))
            facts[(j, a)] = (value, base + v0, golds)
            parts.append(text)
            pos = base + len(text)
    context = " ".join(parts)
    title = ents[0].full.removeprefix("the ").replace(" ", "_")

    # question pool: answerable facts and the three unanswerable kinds
    stated_by_anyone = {a for (_, a) in facts}
    answerable = sorted(facts)
    missing_for = [(j, a) for j in range(n_ent) for a in stated_by_anyone if (j, a) not in facts]
    never = [a for a in range(n_attr) if a not in stated_by_anyone]
    rows: list[dict] = []
    asked: set[tuple[str, int]] = set()
    for _ in range(n_questions):
        target: tuple[str, int] | None = None
        golds: list[tuple[str, int]] = []
        for _ in range(20):  # retry until the question is new in this paragraph
            r = rng.random()
            if r >= 0.3:
                j, a = answerable[rng.integers(len(answerable))]
                subject, golds = ents[j], facts[(j, a)][2]
                mention = subject.full if rng.random() < 0.7 else subject.short
            else:
                golds = []
                u = rng.random()
                if u < 0.5 and missing_for:
                    j, a = missing_for[rng.integers(len(missing_for))]
                    mention = ents[j].full if rng.random() < 0.7 else ents[j].short
                elif u < 0.85 or not never:
                    a = sorted(stated_by_anyone)[rng.integers(len(stated_by_anyone))]
                    other = _Entity(kind, rng)
                    if kind == "person" and rng.random() < 0.35:
                        # same first name as someone present, different surname
                        other.full = f"{ents[rng.integers(n_ent)].first} {other.last}"
                    if other.key() in names or other.full in context:
                        continue
                    mention = other.full
                else:
                    j = int(rng.integers(n_ent))
                    a = never[rng.integers(len(never))]
                    mention = ents[j].full
            if (mention, a) not in asked:
                target = (mention, a)
                break
        if target is None:
            continue
        asked.add(target)
        qt = attrs[target[1]].questions[rng.integers(len(attrs[target[1]].questions))]
        question = qt.replace("{e}", target[0])
        question = question[:1].upper() + question[1:]
        rows.append({
            "id": f"{id_prefix}{start + len(rows):06d}",
            "title": title,
            "context": context,
            "question": question,
            "answers": {"text": [t for t, _ in golds], "answer_start": [s for _, s in golds]},
        })
    return rows


def _synthetic_split(seed: int, split: int, n: int, with_extras: bool, prefix: str) -> list[dict]:
    rng = np.random.default_rng([seed, split])
    rows: list[dict] = []
    while len(rows) < n:
        k = min(int(rng.integers(2, 6)), n - len(rows))
        rows.extend(_paragraph(rng, k, with_extras, prefix, len(rows)))
    return rows


def synthetic_squad(
    seed: int = 0, n_train: int = 3000, n_dev: int = 600
) -> tuple[list[dict], list[dict]]:
    """A synthetic SQuAD 2.0 task: (train rows, dev rows), deterministic in ``seed``.

    Short paragraphs (about 60-90 word-pieces with the question) about two or three invented
    people, towns or organisations sharing attribute types; questions paraphrased from several
    templates; about a third unanswerable. Train rows carry one gold answer, dev rows may carry
    a second, longer phrasing ("1912" and "in 1912"), as the real dev set does.
    """
    if n_train < 0 or n_dev < 0:
        raise ValueError(f"n_train={n_train} and n_dev={n_dev} must be >= 0")
    train = _synthetic_split(seed, 0, n_train, False, f"syn{seed}-train-")
    dev = _synthetic_split(seed, 1, n_dev, True, f"syn{seed}-dev-")
    return train, dev
