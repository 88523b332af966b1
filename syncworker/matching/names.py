"""Name normalisation for organisations (legal forms, trading names, trusts) and people
(titles, "Last, First", couples, initials, middle names, nicknames)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from .nicknames import canonical_given
from .text import fold, fold_all, one_edit

# Multi-token legal forms, longest first, each mapped to a canonical form.
_LEGAL_FORMS: tuple[tuple[tuple[str, ...], str], ...] = tuple(
    sorted(
        (
            (("proprietary", "limited"), "pty ltd"), (("proprietary", "ltd"), "pty ltd"),
            (("pty", "limited"), "pty ltd"), (("pty", "ltd"), "pty ltd"), (("pty",), "pty ltd"),
            (("p", "l"), "pty ltd"), (("limited",), "ltd"), (("ltd",), "ltd"),
            (("incorporated",), "inc"), (("inc",), "inc"), (("llc",), "llc"), (("l", "l", "c"), "llc"),
            (("plc",), "plc"), (("corporation",), "corp"), (("corp",), "corp"),
            (("and", "company"), "co"), (("and", "co"), "co"), (("company",), "co"), (("co",), "co"),
            (("llp",), "llp"), (("lp",), "lp"), (("gmbh",), "gmbh"), (("nl",), "nl"),
            (("partnership",), "partnership"), (("partners",), "partnership"),
        ),
        key=lambda item: -len(item[0]),
    )
)
_COMPANY_FORMS = frozenset({"pty ltd", "ltd", "inc", "llc", "plc", "corp", "co", "gmbh", "nl"})
_WORD_ABBREVIATIONS = {
    "intl": "international", "mgmt": "management", "svcs": "services", "svc": "services",
    "bros": "brothers", "assoc": "associates", "assocs": "associates", "aust": "australia",
    "superannuation": "super", "hldgs": "holdings", "invest": "investments", "grp": "group",
    "dev": "development", "constr": "construction", "eng": "engineering", "mfg": "manufacturing",
    "st": "saint", "mt": "mount",
}
_TRADING = re.compile(r"\b(?:t a|trading as)\b")
_TRUSTEE = re.compile(r"\b(?:the )?(?:atf|att|as trustees? for|trustees? for)\b")
_TRUST_TAIL = ("trust", "settlement", "estate")
_SUPER_FUND = ("super", "fund")

UNKNOWN_GIVEN = "?"  # the unnamed partner of "Mr & Mrs John Smith"
TITLES = frozenset(
    ["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "rev", "reverend", "fr", "hon", "lady", "lord", "master", "madam", "mister", "doctor"]
)
SUFFIXES = frozenset(["jr", "jnr", "sr", "snr", "ii", "iii", "iv", "esq", "phd", "md", "oam", "am", "ao"])


class OrgName(NamedTuple):  # a tuple: built several times faster than a frozen dataclass, once per name
    core: str  # the distinguishing words: no legal form, no leading "the", no "and"
    form: str  # canonical legal form ("pty ltd", "trust", ...) or ""
    alt: str  # trading name or trustee name core, "" when none
    is_trust: bool


class PersonName(NamedTuple):
    given: str  # first given name, folded
    middle: str  # further given names or initials, space-separated
    family: str
    given2: str = ""  # the second person of a couple
    family2: str = ""  # the second person's family name when it differs
    alt: str = ""  # trading name core of a sole trader

    @property
    def couple(self) -> bool:
        return bool(self.given2)

    @property
    def canonical_given(self) -> str:
        return canonical_given(self.given)


# Legal forms by their first word, longest first (the tuple above is already longest first).
_FORMS_BY_FIRST_WORD: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {}
for _words, _canon in _LEGAL_FORMS:
    _FORMS_BY_FIRST_WORD[_words[0]] = (*_FORMS_BY_FIRST_WORD.get(_words[0], ()), (_words, _canon))


def _strip_forms(tokens: list[str]) -> tuple[list[str], str]:
    """Remove legal-form words (anywhere after the first word) and return the canonical form."""
    if _FORMS_BY_FIRST_WORD.keys().isdisjoint(tokens[1:]):
        return tokens, ""
    form = ""
    out: list[str] = tokens[:1]
    i = 1
    while i < len(tokens):
        for words, canon in _FORMS_BY_FIRST_WORD.get(tokens[i], ()):
            n = len(words)
            if n == 1 or tuple(tokens[i : i + n]) == words:
                form = form or canon
                i += n
                break
        else:
            out.append(tokens[i])
            i += 1
    return out, form


# Words that shape an organisation's name rather than tell it apart: a slip in one ("Pattners",
# "Supeannuation", "Anustralia") must not leave it among the distinguishing words.
_STRUCTURAL_WORDS = frozenset("""partners partnership proprietary limited superannuation australia family
    holdings investments services solutions enterprises nominees consulting management properties trustee
    trustees""".split())
_STRUCTURAL_BY_DELETION: dict[str, str] = {}
for _word in _STRUCTURAL_WORDS:
    for _k in range(1, len(_word) - 1):  # not the first letter, nor the last ("investment" is a word)
        _STRUCTURAL_BY_DELETION.setdefault(_word[:_k] + _word[_k + 1:], _word)


@lru_cache(maxsize=50_000)  # an organisation's words repeat across names ("holdings", a surname)
def _org_word(token: str) -> str:
    """A word of an organisation's name as compared: its structural spelling, abbreviations spelled out."""
    word = _structural(token)
    return _WORD_ABBREVIATIONS.get(word, word)


def _structural(token: str) -> str:
    """The structural word a token is one slip from (a letter changed, dropped, added or two swapped,
    not the first), else the token itself."""
    if len(token) < 6 or token in _STRUCTURAL_WORDS:
        return token
    if token in _STRUCTURAL_BY_DELETION:  # a letter dropped
        return _STRUCTURAL_BY_DELETION[token]
    for k in range(1, len(token)):
        shorter = token[:k] + token[k + 1:]
        if shorter in _STRUCTURAL_WORDS:  # a letter added
            return shorter
        word = _STRUCTURAL_BY_DELETION.get(shorter)
        if word is not None and len(word) == len(token) and one_edit(token, word):
            return word  # a letter changed, or two swapped
    return token


def _core_tokens(text: str) -> tuple[list[str], str, bool]:
    tokens = list(map(_org_word, text.split()))
    while tokens and tokens[0] == "the":
        tokens = tokens[1:]
    tokens, form = _strip_forms(tokens)
    is_trust = False
    if tokens and tokens[-1] in _TRUST_TAIL:
        is_trust = True
        tokens = tokens[:-1] if len(tokens) > 1 else tokens
    elif len(tokens) >= 2 and tuple(tokens[-2:]) == _SUPER_FUND:
        is_trust = True
    if "and" in tokens or "the" in tokens:
        tokens = [t for t in tokens if t not in ("and", "the")] or tokens
    if is_trust:
        form = "trust"
    return tokens, form, is_trust


def _may_trade(text: str) -> bool:
    """Cheap test before the trading-name regex (most names have no trading part)."""
    return "t a" in text or "trading as" in text


def parse_org(name: str) -> OrgName:
    """'The Trustee for the Smith Family Trust' -> core 'smith family', form 'trust'."""
    return _org_of_folded(fold(name))


def parse_orgs(names: Sequence[str]) -> list[OrgName]:
    """parse_org of each name, the names folded all together (see text.folded_words)."""
    return list(map(_org_of_folded, fold_all(names)))


def _org_of_folded(text: str) -> OrgName:
    alt = ""
    trading = _TRADING.search(text) if _may_trade(text) else None
    if trading:
        text, alt_text = text[: trading.start()].strip(), text[trading.end() :].strip()
        alt = " ".join(_core_tokens(alt_text)[0])
    trustee = _TRUSTEE.search(text) if "att" in text or "atf" in text or "trustee" in text else None
    if trustee:
        trustee_text, text = text[: trustee.start()].strip(), text[trustee.end() :].strip()
        trustee_core = " ".join(_core_tokens(trustee_text)[0]) if trustee_text not in ("", "the") else ""
        alt = alt or trustee_core
        tokens, form, _ = _core_tokens(text)
        return OrgName(" ".join(tokens), "trust", alt, True)
    tokens, form, is_trust = _core_tokens(text)
    return OrgName(" ".join(tokens), form, alt, is_trust)


def forms_conflict(a: str, b: str) -> bool:
    """A trust is never a company or a partnership; company forms among themselves are compatible."""
    if not a or not b or a == b:
        return False
    groups = ("trust" if f == "trust" else "partnership" if f == "partnership" else "company" for f in (a, b))
    ga, gb = groups
    return ga != gb


@lru_cache(maxsize=50_000)
def _person_tokens(text: str) -> list[str]:
    """Folded words without titles and suffixes (cached: callers must not mutate the list)."""
    return [t for t in text.split() if t not in TITLES and t not in SUFFIXES]


def _split_given(tokens: list[str]) -> tuple[str, str]:
    """First real given name and the rest (middle names and initials)."""
    if not tokens:
        return "", ""
    return tokens[0], " ".join(tokens[1:])


@lru_cache(maxsize=8_192)
def parse_person(name: str) -> PersonName:
    """Parse 'Slater, Thomas G. & Katherine I.', 'Thomas and Katherine Slater', 'Dr Bob Smith'."""
    alt = ""
    folded_all = fold(name)
    trading = _TRADING.search(folded_all) if _may_trade(folded_all) else None
    if trading:
        alt = " ".join(_core_tokens(folded_all[trading.end() :])[0])
        # Cut the raw text at the same word count so a comma before the trading part survives.
        name = name[: max(len(name) * trading.start() // max(len(folded_all), 1), 1)]
    if "," in name:
        family_part, _, given_part = name.partition(",")
        family = " ".join(_person_tokens(fold(family_part)))
        people = [_person_tokens(p) for p in _split_and(fold(given_part))]
        people = [p for p in people if p]
        if not people:
            return PersonName("", "", family, alt=alt)
        given, middle = _split_given(people[0])
        given2 = people[1][0] if len(people) > 1 else ""
        return PersonName(given, middle, family, given2, "", alt)
    parts = [_person_tokens(part) for part in _split_and(fold(name))]
    people = [p for p in parts if p]
    if not people:
        return PersonName("", "", "", alt=alt)
    if len(parts) > 1 and len(people) == 1:
        # "Mr & Mrs John Smith": a couple whose second given name is not known.
        given, middle = _split_given(people[0][:-1])
        return PersonName(given, middle, people[0][-1] if len(people[0]) > 1 else "", UNKNOWN_GIVEN, "", alt)
    if len(people) == 1:
        tokens = people[0]
        if len(tokens) == 1:
            return PersonName("", "", tokens[0], alt=alt)
        given, middle = _split_given(tokens[:-1])
        return PersonName(given, middle, tokens[-1], alt=alt)
    first, second = people[0], people[1]
    family = second[-1] if len(second) > 1 else (first[-1] if len(first) > 1 else "")
    if len(first) > 1 and len(second) > 1:
        # "Thomas Slater and Katherine Jones": two families.
        given, middle = _split_given(first[:-1])
        family2 = second[-1] if second[-1] != first[-1] else ""
        return PersonName(given, middle, first[-1], second[0], family2, alt)
    given, middle = _split_given(first if len(first) == 1 or len(second) > 1 else first[:-1])
    return PersonName(given, middle, family, second[0], "", alt)


def parse_people(names: Sequence[str]) -> list[PersonName]:
    """parse_person of each name, the names folded all together (see text.fold_all). A name of one
    person, with no 'and' and no trading part (most of them), is its words without titles and
    suffixes, as parse_person makes it without its steps: given name, middle names and family name,
    or with a comma 'family, given middle'."""
    people: list[PersonName | None] = []
    commas: list[int] = []  # 'family, given': the two parts folded apart, as parse_person folds them
    for name, text in zip(names, fold_all(names), strict=True):
        if _may_trade(text) or ("and" in text and _AND.search(text)):
            people.append(parse_person(name))
        elif "," in name:
            commas.append(len(people))
            people.append(None)
        else:
            tokens = [t for t in text.split() if t not in TITLES and t not in SUFFIXES]
            if len(tokens) > 1:
                people.append(PersonName(tokens[0], " ".join(tokens[1:-1]), tokens[-1]))
            else:
                people.append(PersonName("", "", tokens[0] if tokens else ""))
    parts = [names[i].partition(",") for i in commas]
    families, givens = fold_all([p[0] for p in parts]), fold_all([p[2] for p in parts])
    for i, family_text, given_text in zip(commas, families, givens, strict=True):
        family = " ".join(t for t in family_text.split() if t not in TITLES and t not in SUFFIXES)
        tokens = [t for t in given_text.split() if t not in TITLES and t not in SUFFIXES]
        people[i] = PersonName(tokens[0], " ".join(tokens[1:]), family) if tokens else PersonName("", "", family)
    return people  # type: ignore[return-value]


_AND = re.compile(r"\band\b")


def _split_and(text: str) -> list[str]:
    return [part.strip() for part in _AND.split(text)] if "and" in text else [text]


def display_name_adds(name: str | None) -> bool:
    """Whether a display name holds what structured name fields cannot: a couple or a trading name."""
    lowered = name.lower() if name else ""
    return "&" in lowered or " and " in lowered or "t/a" in lowered or "trading" in lowered


def given_and_middle(given_name: str | None) -> tuple[str, str]:
    """A given-name field as (first given name, the rest), without titles and suffixes."""
    return _split_given(_person_tokens(fold(given_name)))


def name_words(text: str | None) -> str:
    """A middle- or family-name field folded, without titles and suffixes."""
    return " ".join(_person_tokens(fold(text)))


def person_from_fields(
    name: str, given_name: str | None, middle_name: str | None, family_name: str | None
) -> PersonName:
    """Structured fields win for the first person; the display name adds couples and trading names."""
    if not (given_name or family_name):
        return parse_person(name) if name else PersonName("", "", "")
    parsed = parse_person(name) if display_name_adds(name) else PersonName("", "", "")
    given, middle = given_and_middle(given_name)
    extra_middle = name_words(middle_name)
    middle = " ".join(x for x in (middle, extra_middle) if x)
    family = name_words(family_name)
    return PersonName(
        given or parsed.given, middle or parsed.middle, family or parsed.family,
        parsed.given2, parsed.family2, parsed.alt,
    )


MEMOISED = (parse_person, _person_tokens, _org_word)  # the caches normalise_cache empties after each run
