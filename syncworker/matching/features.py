"""Column-wise normalised features of a list of profiles, ready for vectorised comparison.

Categorical values (emails, phones, identifiers, postcodes, ...) become integer codes from a
vocabulary shared by both sides of a comparison, so equality tests are NumPy integer compares.
Code -1 means "missing".
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from functools import partial
from operator import attrgetter
from typing import Any

import numpy as np

from syncworker.domain.profile import Address, ClientKind, ClientProfile

from .contact import normalise_email, normalise_phones, normalise_streets
from .csvio import dob_digits
from .identifiers import TAIL, checksums_hold, visible_digits_of_each
from .names import (
    display_name_adds,
    given_and_middle,
    name_words,
    parse_orgs,
    parse_people,
    person_from_fields,
)
from .nicknames import AMBIGUOUS, canonical_given
from .text import JOIN, fold

KIND_CODES = {
    ClientKind.INDIVIDUAL: 0, ClientKind.SOLE_TRADER: 1, ClientKind.COMPANY: 2, ClientKind.TRUST: 3,
    ClientKind.PARTNERSHIP: 4, ClientKind.OTHER: 5,
}
KIND_NAMES = {code: kind.value for kind, code in KIND_CODES.items()}
_FORM_GROUPS = {"trust": 2, "partnership": 3, "llp": 3, "lp": 3}
_DIGIT_TOKEN = re.compile(r"\b\d+\b")


class Vocab:
    """The state two tables being compared share: string -> integer codes, and memos of normalised values.

    Codes are unique across namespaces (one counter), so a namespace only keeps two columns apart
    without building prefixed strings. The memos exist because the two sides of a link hold mostly
    the same raw values (the same client typed into two systems): each distinct raw value is
    normalised once per run. Drop the Vocab once both tables are built.
    """

    def __init__(self, keep_memos: bool = True) -> None:
        self._spaces: dict[str, dict[str, int]] = {}
        self._counter = itertools.count()
        self._memos: dict[object, dict] = {}
        self.keep_memos = keep_memos  # False: no other table will come, each memo lasts one call (less memory)

    def codes(self, values: Sequence[str], namespace: str = "") -> np.ndarray:
        """Unique per distinct string, not dense (a C-level map keeps this fast); '' -> -1."""
        space = self._spaces.get(namespace)
        if space is None:
            space = self._spaces[namespace] = {"": -1}
        return np.fromiter(map(space.setdefault, values, self._counter), dtype=np.int32, count=len(values))

    def mapped(self, function: Callable[[Any], Any], values: Sequence[Any], memo: object = None) -> list[Any]:
        """[function(v) for v in values], computing each distinct value once (C-level lookups).

        Results are remembered under `memo` (default: the function itself) for the other table.
        """
        return self.mapped_together(partial(map, function), values, function if memo is None else memo)

    def mapped_together(self, function: Callable[[list[Any]], Any], values: Sequence[Any], memo: object) -> list[Any]:
        """As `mapped`, for a function of a list of distinct values that gives their results in order
        (one that does its work on many values at once), remembered under `memo`."""
        # The distinct values not seen yet are normalised; every record then takes its result by a
        # C-level lookup, with no Python step per record.
        cache = self._memos.get(memo)
        if cache:  # the other table's results, and this table's new values added to them
            new = list(dict.fromkeys(values).keys() - cache.keys())
            cache.update(zip(new, function(new), strict=True))
            return list(map(cache.__getitem__, values))
        # The first table: its distinct values, then their results in place (no second dict to grow).
        results = dict.fromkeys(values)
        new = list(results)
        results.update(zip(new, function(new), strict=True))
        if self.keep_memos:
            self._memos[memo] = results
        return list(map(results.__getitem__, values))


@dataclass(slots=True)
class Table:
    ids: list[str]
    kind: np.ndarray  # int8 KIND_CODES
    is_person: np.ndarray  # bool
    name_key: np.ndarray  # object: persons "given family" (canonical given), orgs core name
    alt: np.ndarray  # object: trading / trustee name
    form: np.ndarray  # object: canonical legal form of organisations
    form_group: np.ndarray  # int8: 0 unknown, 1 company forms, 2 trust, 3 partnership
    name_numbers: np.ndarray  # object: digit tokens of an organisation name ("2" in "... Trust No 2")
    name_code: np.ndarray  # int32 code of name_key
    given: np.ndarray  # object, folded first given name
    given_canon_code: np.ndarray  # int32
    given_canon: np.ndarray  # object, canonical given name ('bob' -> 'robert')
    given2_canon: np.ndarray  # object
    given_len: np.ndarray  # int32 length of the given name (1 = an initial)
    given2_len: np.ndarray
    given2_initial: np.ndarray  # object
    given_ambiguous: np.ndarray  # bool: a diminutive of several names ("chris")
    given2_ambiguous: np.ndarray  # bool, for the second given name of a couple
    given_initial: np.ndarray  # object, first letter of the given name
    middle_initial: np.ndarray  # object
    family: np.ndarray  # object
    family_code: np.ndarray  # int32
    generation: np.ndarray  # object: "jr" / "sr" suffix, '' when none
    given2: np.ndarray  # object, second person of a couple ('' when not a couple)
    family2: np.ndarray  # object
    dob: np.ndarray  # int32 yyyymmdd, 0 when missing
    email: np.ndarray  # int32 codes
    email_text: np.ndarray  # object: the normalised email ('' when none), for near misses
    email_digits: np.ndarray  # int32 code of the email's digits in order (-1 when it has none)
    email_shared: np.ndarray  # bool: people with other given names use this email too (a family address)
    mobile: np.ndarray  # int32 code of a mobile number (personal, unlike a household landline)
    phone1: np.ndarray
    phone2: np.ndarray
    tax_full: np.ndarray  # int32 code of the whole visible number
    tax_tail: np.ndarray  # int32 code of the last visible digits
    tax_valid: np.ndarray  # bool, checksum holds
    bizno: np.ndarray  # int32 code of ABN (or company number when no ABN)
    bizno_valid: np.ndarray
    street: np.ndarray  # object, normalised street line
    postcode: np.ndarray  # int32
    postcode_digits: np.ndarray  # int32: numeric postcode + 10^7 * its length, -1 when not 3-6 digits
    street_number: np.ndarray  # int32 code of the house number (first word of the street line)
    family_initial: np.ndarray  # object
    city: np.ndarray  # object
    city_code: np.ndarray  # int32

    derived: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.ids)

    def present(self, column: str) -> np.ndarray:
        """Per record: the string column is non-empty. Tested once per record and kept (testing the
        gathered per-pair strings costs a Python truth test per pair, several times per run)."""
        return self._derive(("present", column), lambda: getattr(self, column).astype(bool))

    def nicknamed(self) -> np.ndarray:
        """Per record: the given name's canonical form differs from its spelling ('bob' -> 'robert')."""
        return self._derive(("nicknamed", "given"), lambda: self.given_canon != self.given)

    def sorted_words(self, column: str) -> np.ndarray:
        """The string column with its words sorted, once per record: fuzz.ratio on these equals
        fuzz.token_sort_ratio on the originals, without re-sorting both strings for every pair."""
        return self._derive(("sorted", column),
                            lambda: _objects(each_distinct(_sort_words, getattr(self, column).tolist())))

    def words_moved(self, column: str) -> np.ndarray:
        """Per record: sorting the words of the string column changed their order (see sorted_words)."""
        return self._derive(("moved", column), lambda: self.sorted_words(column) != getattr(self, column))

    def namesakes(self, by: str = "given") -> np.ndarray:
        """Per record: how many people of this list (itself included; 0 for organisations and people
        without both names) share its family name, postcode and given name (nicknames as the full
        name; with `by="initial"`, only the given name's first letter)."""
        def count() -> np.ndarray:
            named = self.is_person & (self.family_code >= 0) & (self.given_canon_code >= 0)
            given = self.namesake_given(by)
            out = np.zeros(len(self), dtype=np.int32)
            if not named.any():
                return out
            # One integer per (family, given, postcode): each part as its rank among the named, so the
            # product fits; a 1-D unique is several times faster than np.unique(axis=0) on the triples.
            key = np.zeros(int(named.sum()), dtype=np.int64)
            for part in (self.family_code, given, self.postcode):
                values, rank = np.unique(part[named], return_inverse=True)
                key = key * len(values) + rank.ravel()
            _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
            out[named] = counts[inverse.ravel()]
            return out
        return self._derive(("namesakes", by), count)

    def namesake_given(self, by: str = "given") -> np.ndarray:
        """Per record: the integer code by which namesakes are told apart by given name: the canonical
        name's code (`by="given"`) or, with `by="initial"`, the given name's first letter as a code."""
        if by == "given":
            return self.given_canon_code
        return self._derive(("namesake", "given_initial"), lambda: _ranks(self.given_initial.tolist()))

    def _derive(self, key: tuple[str, str], compute: Callable[[], np.ndarray]) -> np.ndarray:
        """A per-record column computed from the others on first use, then kept with the table."""
        value = self.derived.get(key)
        if value is None:
            value = self.derived[key] = compute()
        return value


_GENERATION_HINT = re.compile(r"(?i)\b(?:jn?r|sn?r|junior|senior|ii)\b")
_GENERATIONS = {"jr": "jr", "jnr": "jr", "junior": "jr", "ii": "jr", "sr": "sr", "snr": "sr", "senior": "sr"}


def generation_of(*texts: str | None) -> str:
    """'jr' or 'sr' when a name carries a generational suffix (John Smith Jr)."""
    for text in texts:
        if not text or not _GENERATION_HINT.search(text):
            continue
        for token in fold(text).split()[1:]:
            if token in _GENERATIONS:
                return _GENERATIONS[token]
    return ""


def _dob_of(profile: ClientProfile) -> int:
    return dob_number(profile.date_of_birth, None)


def dob_number(d: date | None, raw: str | None) -> int:
    """yyyymmdd of the date of birth; for one read from a file as malformed text (`raw`), its digits
    as written (see csvio.dob_digits), so a typo still compares close to the right date; 0 when none."""
    if d is not None:
        return d.year * 10000 + d.month * 100 + d.day
    return dob_digits(raw) if raw else 0


_PersonFields = tuple[str, str | None, str | None, str | None]  # name, given, middle, family


def _person_features(fields: _PersonFields) -> tuple[str, str, str, str, str, str, str, str]:
    """(given, canonical given, middle initial, family, given2, family2, trading alt, generation)."""
    name, given_name, middle_name, family_name = fields
    person = person_from_fields(name, given_name, middle_name, family_name)
    return (person.given, canonical_given(person.given), person.middle[:1], person.family, person.given2,
            person.family2, person.alt, generation_of(name, family_name))


def _people_features(keys: list[_PersonFields]) -> list[tuple[str, ...]]:
    """_person_features of each person; those with a display name and neither a given nor a family
    name (person_from_fields then parses the display name alone) parsed together (parse_people)."""
    rows: list[tuple[str, ...] | None] = [None] * len(keys)
    alone = [i for i, (name, given_name, _, family_name) in enumerate(keys) if name and not (given_name or family_name)]
    for i, person in zip(alone, parse_people([keys[i][0] for i in alone]), strict=True):
        name, _, _, family_name = keys[i]
        rows[i] = (person.given, canonical_given(person.given), person.middle[:1], person.family, person.given2,
                   person.family2, person.alt, generation_of(name, family_name))
    return [_person_features(key) if row is None else row for key, row in zip(keys, rows, strict=True)]


def _person_rows(keys: list[_PersonFields], vocab: Vocab) -> list[tuple[str, ...]]:
    """_person_features of each person. Most records have structured names whose display name adds
    nothing (what person_from_fields then does): their given, middle and family fields, which repeat
    a lot, are normalised once per distinct value; only the other records are parsed whole."""
    mapped = vocab.mapped
    givens = mapped(given_and_middle, [k[1] for k in keys])
    middles = mapped(name_words, [k[2] for k in keys])
    families = mapped(name_words, [k[3] for k in keys])
    rows: list[tuple[str, ...] | None] = []
    whole: list[int] = []
    for i, (key, (given, middle), extra_middle, family) in enumerate(zip(keys, givens, middles, families, strict=True)):
        name, given_name, _, family_name = key
        if (given_name or family_name) and not display_name_adds(name) and not generation_of(name, family_name):
            rows.append((given, canonical_given(given), (middle or extra_middle)[:1], family, "", "", "", ""))
        else:
            rows.append(None)
            whole.append(i)
    # The same client is often typed alike into both systems: the other table reuses these parses.
    whole_rows = vocab.mapped_together(_people_features, [keys[i] for i in whole], memo=_person_features)
    for i, row in zip(whole, whole_rows, strict=True):
        rows[i] = row
    return rows  # type: ignore[return-value]


def _org_features(names: list[str]) -> list[tuple[str, str, str, str]]:
    """(core name, trading/trustee alt, legal form, digit tokens of the core name) of each name."""
    return [(org.core, org.alt, org.form, " ".join(_DIGIT_TOKEN.findall(org.core))) for org in parse_orgs(names)]


def _street_lines(lines: list[tuple[str | None, str | None]]) -> list[str]:
    """The normalised street of each (line 1, line 2)."""
    return normalise_streets([f"{line1} {line2}" if line1 and line2 else line1 or line2 or "" for line1, line2 in lines])


def _street_numbers(streets: list[str]) -> list[str]:
    """The house number of each street line: its first word when that starts with a digit, else ''.
    (One comprehension: a Python call per line, even once per distinct line, cost more.)"""
    return [street.partition(" ")[0] if street[:1].isdigit() else "" for street in streets]


_NO_ADDRESS = Address()


def _identifier_parts(raws: list[str | None]) -> list[tuple[str, str, bool, bool]]:
    """(full, tail, valid, parsed) of each value: the whole visible number ('' when masked), its last
    digits, whether a checksum holds, and whether the value held any digits at all."""
    visible = visible_digits_of_each(raws)
    full = [v[0] if v is not None and not v[1] else "" for v in visible]
    parts = []
    for seen, whole, valid in zip(visible, full, checksums_hold(full).tolist(), strict=True):
        if seen is None:
            parts.append(("", "", False, False))
        else:
            digits = seen[0]
            parts.append((whole, digits[-TAIL:] if len(digits) >= TAIL else "", valid, True))
    return parts


_get = attrgetter


@dataclass(slots=True)
class RawColumns:
    """The profile fields a table is built from, column by column: plain strings, numbers and tuples,
    cheap to send to another process (whole profiles are not)."""

    ids: list[str]
    kinds: np.ndarray  # int8 KIND_CODES
    person_keys: list[_PersonFields]  # people only, in record order
    dobs: list[int]  # people only: yyyymmdd, 0 when missing
    org_names: list[str]  # organisations only
    emails: list[str | None]
    phones: list[str | None]
    mobiles: list[str | None]
    tax_numbers: list[str | None]
    business_numbers: list[str | None]
    company_numbers: list[str | None]
    street_lines: list[tuple[str | None, str | None]]
    postcodes: list[str | None]
    cities: list[str | None]
    consume: bool = False  # `take` lets go of each column it hands out

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, name: str) -> Any:
        """A column, for use once. With `consume` set (in the second process of `tables`, whose copy
        serves nothing else) these columns let go of it, so its raw values are freed as soon as their
        normalised values exist, and the process peaks lower."""
        values = getattr(self, name)
        if self.consume:
            setattr(self, name, None)
        return values

    def split(self) -> tuple[RawColumns, RawColumns]:
        """The first and second half of the records."""
        n = len(self.ids)
        half = n // 2
        people_first = int(np.count_nonzero(self.kinds[:half] <= 1))
        orgs_first = half - people_first

        def cut(name: str, first: bool) -> Any:
            values = getattr(self, name)
            at = {"person_keys": people_first, "dobs": people_first, "org_names": orgs_first}.get(name, half)
            return values[:at] if first else values[at:]

        names = [f.name for f in fields(self) if f.name != "consume"]
        return RawColumns(**{k: cut(k, True) for k in names}), RawColumns(**{k: cut(k, False) for k in names})


def raw_columns(profiles: Sequence[ClientProfile]) -> RawColumns:
    n = len(profiles)
    kinds = np.fromiter(map(KIND_CODES.get, map(_get("kind"), profiles), itertools.repeat(5)), dtype=np.int8, count=n)
    is_person = (kinds <= 1).tolist()
    people = list(itertools.compress(profiles, is_person))
    orgs = list(itertools.compress(profiles, (not p for p in is_person)))
    addresses = [p.address or p.postal_address or _NO_ADDRESS for p in profiles]
    return RawColumns(
        ids=list(map(_get("id"), profiles)), kinds=kinds,
        person_keys=list(map(_get("name", "given_name", "middle_name", "family_name"), people)),
        dobs=list(map(_dob_of, people)),
        org_names=list(map(_get("name"), orgs)),
        emails=list(map(_get("email"), profiles)), phones=list(map(_get("phone"), profiles)),
        mobiles=list(map(_get("mobile"), profiles)), tax_numbers=list(map(_get("tax_number"), profiles)),
        business_numbers=list(map(_get("business_number"), profiles)),
        company_numbers=list(map(_get("company_number"), profiles)),
        street_lines=list(map(_get("line1", "line2"), addresses)),  # tuples hash in C (Vocab.mapped)
        postcodes=list(map(_get("postcode"), addresses)), cities=list(map(_get("city"), addresses)),
    )


@dataclass(slots=True)
class Normalised:
    """A table before coding. `fields` are Table fields as they stay; `strings` are the values behind
    the Table's code columns (field -> (namespace, values)), coded by the run's Vocab in `assemble`:
    only the process that holds the Vocab can give both sides the same codes."""

    fields: dict[str, Any]
    strings: dict[str, tuple[str, list[str]]]
    derived: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # Table.derived made already

    @staticmethod
    def concat(first: Normalised, second: Normalised) -> Normalised:
        """The records of `first`, then those of `second` (the halves of one list)."""
        def join(a: Any, b: Any) -> Any:
            return np.concatenate([a, b]) if isinstance(a, np.ndarray) else a + b

        return Normalised(
            {k: join(v, second.fields[k]) for k, v in first.fields.items()},
            {k: (ns, v + second.strings[k][1]) for k, (ns, v) in first.strings.items()},
            {k: join(v, second.derived[k]) for k, v in first.derived.items()},  # per record: they join
        )


def normalise(raw: RawColumns, vocab: Vocab, region: str) -> Normalised:
    """Every per-record normaliser, column by column: each runs once per distinct raw value (see
    Vocab.mapped, whose memos are the only part of `vocab` used here)."""
    n = len(raw)
    kinds = raw.kinds
    is_person = kinds <= 1
    people = np.flatnonzero(is_person)
    orgs = np.flatnonzero(~is_person)
    mapped = vocab.mapped

    name_key, alt, form, numbers = (_objects([""] * n) for _ in range(4))
    given, given_canon, middle_initial, family, given2, family2, generation = (_objects([""] * n) for _ in range(7))
    dob = np.zeros(n, dtype=np.int32)
    if len(people):
        columns = list(zip(*_person_rows(raw.take("person_keys"), vocab), strict=True))
        for column, values in zip((given, given_canon, middle_initial, family, given2, family2, alt, generation),
                                  columns, strict=True):
            column[people] = values
        name_key[people] = [f"{g} {f}".strip() for g, f in zip(columns[1], columns[3], strict=True)]
        dob[people] = raw.take("dobs")
    if len(orgs):
        columns = list(zip(*vocab.mapped_together(_org_features, raw.take("org_names"), memo=_org_features), strict=True))
        for column, values in zip((name_key, alt, form, numbers), columns, strict=True):
            column[orgs] = values
        form[orgs[(form[orgs] == "") & (kinds[orgs] == KIND_CODES[ClientKind.TRUST])]] = "trust"

    email = mapped(normalise_email, raw.take("emails"))
    phones = partial(vocab.mapped_together, partial(normalise_phones, region=region), memo=("phone", region))
    phone1 = phones(raw.take("phones"))
    phone2 = phones(raw.take("mobiles"))
    phone2 = ["" if a == b else b for a, b in zip(phone1, phone2, strict=True)]
    identifiers = partial(vocab.mapped_together, _identifier_parts, memo=_identifier_parts)
    tax_full, tax_tail, tax_valid, _ = zip(*identifiers(raw.take("tax_numbers")), strict=True) if n else ((),) * 4
    # The ABN, or the company number when there is no ABN (a masked ABN is not replaced).
    abn = identifiers(raw.take("business_numbers"))
    acn = identifiers(raw.take("company_numbers"))
    business = [a if a[3] else c for a, c in zip(abn, acn, strict=True)]
    street = vocab.mapped_together(_street_lines, raw.take("street_lines"), memo=_street_lines)
    postcode = mapped(_postcode_text, raw.take("postcodes"))
    city = mapped(fold, raw.take("cities"))

    obj = _objects
    given_list = given.tolist()
    given2_list = given2.tolist()
    table_fields = dict(
        ids=raw.ids, kind=kinds, is_person=is_person,
        name_key=name_key, alt=alt, form=form, name_numbers=numbers,
        form_group=np.array(each_distinct(_form_group, form.tolist()), dtype=np.int8),
        given=given, given_canon=given_canon, given2_canon=obj(each_distinct(canonical_given, given2_list)),
        given_len=np.fromiter(map(len, given_list), dtype=np.int32, count=n),
        given2_len=np.fromiter(map(len, given2_list), dtype=np.int32, count=n),
        given2_initial=obj([g[:1] for g in given2_list]),
        given_ambiguous=np.fromiter(map(AMBIGUOUS.__contains__, given_list), dtype=bool, count=n),
        given2_ambiguous=np.fromiter(map(AMBIGUOUS.__contains__, given2_list), dtype=bool, count=n),
        given_initial=obj([g[:1] for g in given_list]), middle_initial=middle_initial,
        family=family, generation=generation, given2=given2, family2=family2, dob=dob,
        tax_valid=np.asarray(tax_valid, dtype=bool),
        bizno_valid=np.fromiter((b[2] and b[0] != "" for b in business), dtype=bool, count=n),
        street=obj(street), email_text=obj(email),
        postcode_digits=np.array(each_distinct(_postcode_digits, postcode), dtype=np.int32),
        family_initial=obj([f[:1] for f in family.tolist()]), city=obj(city),
    )
    strings = {  # Table code field -> (namespace, values); codes are unique across namespaces
        "email": ("", email), "email_digits": ("@#", _digits_of_each(email)),
        "given_canon_code": ("g", given_canon.tolist()), "name_code": ("n", name_key.tolist()),
        "family_code": ("f", family.tolist()),
        "mobile": ("", _mobiles(phone1, phone2)), "phone1": ("", phone1), "phone2": ("", phone2),
        "tax_full": ("t", list(tax_full)), "tax_tail": ("tt", list(tax_tail)), "bizno": ("b", [b[0] for b in business]),
        "postcode": ("p", postcode),
        "street_number": ("#", _street_numbers(street)),
        "city_code": ("c", city),
    }
    # Made here, not on first use: in a link run the second process normalises one side while this
    # one still works on the other, and the comparisons that use them run on one core afterwards.
    derived = {("sorted", column): _objects(each_distinct(_sort_words, table_fields[column].tolist()))
               for column in SORTED_WORDS}
    return Normalised(table_fields, strings, derived)


def assemble(columns: Normalised, vocab: Vocab) -> Table:
    """The Table of normalised columns, its categorical values coded by the run's shared Vocab."""
    codes = {name: vocab.codes(values, namespace) for name, (namespace, values) in columns.strings.items()}
    shared = _shared_by_others(codes["email"], codes["given_canon_code"], columns.fields["is_person"])
    return Table(**columns.fields, **codes, email_shared=shared, derived=dict(columns.derived))


def build_table(profiles: Sequence[ClientProfile], vocab: Vocab, region: str) -> Table:
    """Column by column: each normaliser runs once per distinct raw value (see Vocab.mapped)."""
    return assemble(normalise(raw_columns(profiles), vocab, region), vocab)


_NOT_DIGITS = bytes(c for c in range(128) if not chr(c).isdigit() and chr(c) != JOIN)


def _digits_of_each(texts: list[str]) -> list[str]:
    """The digits of each text in order; those of ASCII texts dropped from all of them at once."""
    joined = JOIN.join(texts)
    if joined.isascii() and joined.count(JOIN) == len(texts) - 1:
        return joined.encode().translate(None, _NOT_DIGITS).decode().split(JOIN)
    return ["".join(filter(str.isdigit, text)) for text in texts]


def _postcode_text(raw: str | None) -> str:
    return (raw or "").strip().lower()


def _postcode_digits(postcode: str) -> int:
    """Numeric postcodes as integers (near misses are then compared digit by digit, without strings)."""
    if 3 <= len(postcode) <= 6 and postcode.isdigit():
        return int(postcode) + 10_000_000 * len(postcode)
    return -1


_MOBILE_PREFIXES = ("+614", "+642", "+447", "+6427", "+6421", "+6422")


def _mobiles(phones: list[str], others: list[str]) -> list[str]:
    """Of each two numbers, the first that is a mobile ('' when neither is): written out in one
    comprehension, a Python call per record cost more than the test."""
    prefixes = _MOBILE_PREFIXES
    return [phone if phone.startswith(prefixes) else other if other.startswith(prefixes) else ""
            for phone, other in zip(phones, others, strict=True)]


def _form_group(form: str) -> int:
    """The group of a canonical legal form: 0 none, 2 trust, 3 partnership, 1 any other form."""
    return _FORM_GROUPS.get(form, 1 if form else 0)


def _shared_by_others(codes: np.ndarray, given: np.ndarray, is_person: np.ndarray) -> np.ndarray:
    """True where a person's email is also used by a person with another given name in the list."""
    people = np.flatnonzero(is_person & (codes >= 0))
    pairs = np.unique(np.stack([codes[people], given[people]]), axis=1)  # distinct (email, given)
    emails, counts = np.unique(pairs[0], return_counts=True)
    shared = np.zeros(len(codes), dtype=bool)
    shared[people] = np.isin(codes[people], emails[counts > 1])
    return shared


def _sort_words(text: str) -> str:
    """The text with its words sorted: the text itself when they are in order already (no copy to keep
    or to send from the second process of `tables`)."""
    if " " not in text:
        return text
    ordered = " ".join(sorted(text.split()))
    return text if ordered == text else ordered


SORTED_WORDS = ("name_key", "alt", "street")  # Table.sorted_words made with the normalising (see normalise)


def _ranks(values: list[str]) -> np.ndarray:
    """Per value, its rank among the distinct values sorted (np.unique's inverse), ranking each
    distinct value once rather than sorting every record's (np.unique on objects sorts them all)."""
    rank = dict(zip(sorted(set(values)), itertools.count(), strict=False))
    return np.fromiter(map(rank.__getitem__, values), dtype=np.intp, count=len(values))


def each_distinct(function: Callable[[Any], Any], values: Sequence[Any]) -> list[Any]:
    """[function(v) for v in values], called once per distinct value (values repeat: empty names,
    the same street on both sides of a household)."""
    distinct = dict.fromkeys(values).keys()
    results = dict(zip(distinct, map(function, distinct), strict=True))
    return list(map(results.__getitem__, values))


def _objects(values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
