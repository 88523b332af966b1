"""Column-wise normalised features of a list of profiles, ready for vectorised comparison.

Categorical values (emails, phones, identifiers, postcodes, ...) become integer codes from a
vocabulary shared by both sides of a comparison, so equality tests are NumPy integer compares.
Code -1 means "missing".
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from syncworker.domain.profile import ClientKind, ClientProfile

from .contact import normalise_email, normalise_phone, normalise_street
from .identifiers import parse_identifier
from .names import parse_org, person_from_fields
from .nicknames import AMBIGUOUS, canonical_given
from .text import fold

KIND_CODES = {
    ClientKind.INDIVIDUAL: 0, ClientKind.SOLE_TRADER: 1, ClientKind.COMPANY: 2, ClientKind.TRUST: 3,
    ClientKind.PARTNERSHIP: 4, ClientKind.OTHER: 5,
}
KIND_NAMES = {code: kind.value for kind, code in KIND_CODES.items()}
_FORM_GROUPS = {"trust": 2, "partnership": 3, "llp": 3, "lp": 3}
_DIGIT_TOKEN = re.compile(r"\b\d+\b")


class Vocab:
    """String -> integer code, shared by the two tables being compared."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {"": -1}
        self._counter = itertools.count()

    def codes(self, values: Sequence[str]) -> np.ndarray:
        """Unique per distinct string, not dense (a C-level map keeps this fast); '' -> -1."""
        return np.fromiter(map(self._codes.setdefault, values, self._counter), dtype=np.int32, count=len(values))


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
    given2_canon_code: np.ndarray  # int32
    given_initial: np.ndarray  # object, first letter of the given name
    middle_initial: np.ndarray  # object
    family: np.ndarray  # object
    family_code: np.ndarray  # int32
    generation: np.ndarray  # object: "jr" / "sr" suffix, '' when none
    given2: np.ndarray  # object, second person of a couple ('' when not a couple)
    family2: np.ndarray  # object
    dob: np.ndarray  # int32 yyyymmdd, 0 when missing
    email: np.ndarray  # int32 codes
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

    def __len__(self) -> int:
        return len(self.ids)


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


def _dob_int(profile: ClientProfile) -> int:
    d = profile.date_of_birth
    return d.year * 10000 + d.month * 100 + d.day if d else 0


def build_table(profiles: Sequence[ClientProfile], vocab: Vocab, region: str) -> Table:
    n = len(profiles)
    kinds = np.empty(n, dtype=np.int8)
    name_key, alt, form, numbers = [""] * n, [""] * n, [""] * n, [""] * n
    given, given_canon, given_initial, middle_initial = [""] * n, [""] * n, [""] * n, [""] * n
    family, given2, family2, generation = [""] * n, [""] * n, [""] * n, [""] * n
    dob = np.zeros(n, dtype=np.int32)
    email, phone1, phone2 = [""] * n, [""] * n, [""] * n
    tax_full, tax_tail = [""] * n, [""] * n
    tax_valid = np.zeros(n, dtype=bool)
    bizno = [""] * n
    bizno_valid = np.zeros(n, dtype=bool)
    street, postcode, city = [""] * n, [""] * n, [""] * n
    for i, p in enumerate(profiles):
        kinds[i] = KIND_CODES.get(p.kind, 5)
        if p.kind.is_person:
            person = person_from_fields(p.name, p.given_name, p.middle_name, p.family_name)
            given[i] = person.given
            given_canon[i] = canonical_given(person.given)
            given_initial[i] = person.given[:1]
            middle_initial[i] = person.middle[:1]
            family[i] = person.family
            given2[i] = person.given2
            family2[i] = person.family2
            name_key[i] = f"{given_canon[i]} {person.family}".strip()
            alt[i] = person.alt
            generation[i] = generation_of(p.name, p.family_name)
            dob[i] = _dob_int(p)
        else:
            org = parse_org(p.name)
            name_key[i] = org.core
            alt[i] = org.alt
            form[i] = org.form or ("trust" if p.kind == ClientKind.TRUST else "")
            numbers[i] = " ".join(_DIGIT_TOKEN.findall(org.core))
        email[i] = normalise_email(p.email)
        phone1[i] = normalise_phone(p.phone, region)
        phone2[i] = normalise_phone(p.mobile, region)
        if phone1[i] == phone2[i]:
            phone2[i] = ""
        tax = parse_identifier(p.tax_number)
        if tax:
            tax_full[i], tax_tail[i], tax_valid[i] = tax.full, tax.tail, tax.valid
        biz = parse_identifier(p.business_number) or parse_identifier(p.company_number)
        if biz and not biz.masked:
            bizno[i], bizno_valid[i] = biz.digits, biz.valid
        addr = p.address or p.postal_address
        if addr:
            street[i] = normalise_street(" ".join(x for x in (addr.line1, addr.line2) if x))
            postcode[i] = (addr.postcode or "").strip().lower()
            city[i] = fold(addr.city)
    obj = _objects
    email_codes = vocab.codes(email)
    given_canon_code = vocab.codes(["g:" + g if g else "" for g in given_canon])
    return Table(
        ids=[p.id for p in profiles], kind=kinds, is_person=kinds <= 1,
        name_key=obj(name_key), alt=obj(alt), form=obj(form), name_numbers=obj(numbers),
        form_group=np.fromiter((_FORM_GROUPS.get(f, 1 if f else 0) for f in form), dtype=np.int8, count=n),
        name_code=vocab.codes(["n:" + k if k else "" for k in name_key]),
        given=obj(given), given_canon_code=given_canon_code,
        given_canon=obj(given_canon), given2_canon=obj([canonical_given(g) for g in given2]),
        given_len=np.fromiter(map(len, given), dtype=np.int32, count=n),
        given2_len=np.fromiter(map(len, given2), dtype=np.int32, count=n),
        given2_initial=obj([g[:1] for g in given2]),
        given_ambiguous=np.fromiter((g in AMBIGUOUS for g in given), dtype=bool, count=n),
        given2_canon_code=vocab.codes(["g:" + canonical_given(g) if g else "" for g in given2]),
        given_initial=obj(given_initial), middle_initial=obj(middle_initial),
        family=obj(family), family_code=vocab.codes(["f:" + f if f else "" for f in family]),
        generation=obj(generation), given2=obj(given2), family2=obj(family2), dob=dob,
        email=email_codes, email_shared=_shared_by_others(email_codes, given_canon_code, kinds <= 1),
        mobile=vocab.codes([_mobile(p1, p2) for p1, p2 in zip(phone1, phone2, strict=True)]),
        phone1=vocab.codes(phone1), phone2=vocab.codes(phone2),
        tax_full=vocab.codes(["t:" + t if t else "" for t in tax_full]),
        tax_tail=vocab.codes(["tt:" + t if t else "" for t in tax_tail]), tax_valid=tax_valid,
        bizno=vocab.codes(["b:" + b if b else "" for b in bizno]), bizno_valid=bizno_valid,
        street=obj(street), postcode=vocab.codes(["p:" + c if c else "" for c in postcode]), postcode_digits=np.fromiter(map(_postcode_digits, postcode), dtype=np.int32, count=n),
        street_number=vocab.codes(["#" + s.partition(" ")[0] if s[:1].isdigit() else "" for s in street]),
        family_initial=obj([f[:1] for f in family]),
        city=obj(city), city_code=vocab.codes(["c:" + c if c else "" for c in city]),
    )


def _postcode_digits(postcode: str) -> int:
    """Numeric postcodes as integers (near misses are then compared digit by digit, without strings)."""
    if 3 <= len(postcode) <= 6 and postcode.isdigit():
        return int(postcode) + 10_000_000 * len(postcode)
    return -1


_MOBILE_PREFIXES = ("+614", "+642", "+447", "+6427", "+6421", "+6422")


def _mobile(*numbers: str) -> str:
    return next((x for x in numbers if x.startswith(_MOBILE_PREFIXES)), "")


def _shared_by_others(codes: np.ndarray, given: np.ndarray, is_person: np.ndarray) -> np.ndarray:
    """True where a person's email is also used by a person with another given name in the list."""
    people = np.flatnonzero(is_person & (codes >= 0))
    pairs = np.unique(np.stack([codes[people], given[people]]), axis=1)  # distinct (email, given)
    emails, counts = np.unique(pairs[0], return_counts=True)
    shared = np.zeros(len(codes), dtype=bool)
    shared[people] = np.isin(codes[people], emails[counts > 1])
    return shared


def _objects(values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
