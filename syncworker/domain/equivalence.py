"""Equal in meaning is equal: the comparable form of a synced field, per kind of field (pure, no I/O).

Two systems spell the same fact differently: `AU` and `Australia`, `0412 345 678` and `+61412345678`,
`Ward, Shane` and `Shane Ward`, `Unit 3, 12 Smith Street` and `3/12 Smith St`. The sync compares these
forms, never the raw text, so a difference of spelling is never a change, a write or a conflict. Each
function returns a canonical string (None for blank); two values mean the same thing exactly when their
canonical forms are equal.

Street lines are compared as a whole (`street_key`): XPM keeps one free-text Address that the adapter
splits into lines, so the same street can sit on one line or two, with the suburb typed in as well.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

import phonenumbers

_SPACES = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w&/ ]+")


def text(value: Any) -> str | None:
    """Whitespace collapsed, None for blank. Dates as ISO dates; enums as their value."""
    if value is None:
        return None
    if isinstance(value, StrEnum):
        value = value.value
    if isinstance(value, datetime):
        value = value.date() if value.time() == datetime.min.time() else value
    if isinstance(value, date | datetime):
        return value.isoformat()
    out = _SPACES.sub(" ", str(value)).strip()
    return out or None


def _fold(value: str) -> str:
    """Case and accents folded (`José` = `JOSE`), punctuation other than & and / dropped."""
    decomposed = unicodedata.normalize("NFKD", value)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return _SPACES.sub(" ", _PUNCT.sub(" ", plain)).strip()


# --- countries -------------------------------------------------------------------------------------------

_COUNTRY_ALIASES = {
    "uk": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "britain": "GB",
    "usa": "US", "united states of america": "US", "america": "US", "us of a": "US",
    "aus": "AU", "commonwealth of australia": "AU", "nzl": "NZ", "aotearoa": "NZ", "aotearoa new zealand": "NZ",
    "gbr": "GB", "can": "CA", "irl": "IE", "zaf": "ZA", "sgp": "SG", "hkg": "HK", "ind": "IN", "chn": "CN",
    "fji": "FJ", "png": "PG", "deu": "DE", "fra": "FR", "jpn": "JP", "mys": "MY", "idn": "ID", "phl": "PH",
    "south korea": "KR", "korea": "KR", "republic of korea": "KR", "korea republic of": "KR", "holland": "NL",
    "the netherlands": "NL", "viet nam": "VN", "russian federation": "RU", "hong kong sar china": "HK",
    "united kingdom of great britain and northern ireland": "GB",
}


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Folded English name or ISO alpha-2 code -> alpha-2 code, for every region phonenumbers knows."""
    out: dict[str, str] = {}
    try:  # phonenumbers ships the English display names of its regions
        from phonenumbers.geocoder import _region_display_name
    except ImportError:  # pragma: no cover - an older phonenumbers: codes and aliases still work
        _region_display_name = None
    for code in phonenumbers.SUPPORTED_REGIONS:
        out[code.casefold()] = code
        name = _region_display_name(code, "en") if _region_display_name else ""
        if name:
            out[_fold(name)] = code
            out[_fold(name.replace("&", "and"))] = code
    out.update(_COUNTRY_ALIASES)
    return out


def country(value: Any) -> str | None:
    """ISO alpha-2 code for a code or English name in any case (`AU`, `aus`, `Australia`); anything not
    recognised compares by its folded text."""
    t = text(value)
    if t is None:
        return None
    folded, names = _fold(t), _country_names()
    acronym = folded.replace(" ", "") if re.fullmatch(r"(?:\w )+\w", folded) else None  # U.S.A., U.K.
    return names.get(folded) or names.get(folded.removeprefix("the ")) or names.get(acronym or "") or folded


# --- regions (states) ------------------------------------------------------------------------------------

_REGIONS = {
    "new south wales": "nsw", "victoria": "vic", "queensland": "qld", "south australia": "sa",
    "western australia": "wa", "tasmania": "tas", "northern territory": "nt",
    "australian capital territory": "act", "queensland state": "qld",
}


def region(value: Any) -> str | None:
    t = text(value)
    if t is None:
        return None
    folded = _fold(t)
    return _REGIONS.get(folded, folded)


_PLACE_WORDS = {"saint": "st", "mount": "mt", "fort": "ft"}


def place(value: Any) -> str | None:
    """A suburb or town: case, accents and punctuation do not count, nor `Saint`/`St`, `Mount`/`Mt`
    (`St Kilda` = `Saint Kilda`, `Mt Eden` = `Mount Eden`)."""
    folded = person_name(value)
    return None if folded is None else " ".join(_PLACE_WORDS.get(w, w) for w in folded.split())


# --- phones, emails, websites, identifiers ---------------------------------------------------------------

def phone(value: Any, default_region: str = "AU") -> str | None:
    """E.164 when phonenumbers can read the number (national numbers in the tenant's default region),
    else the digits (and a leading +)."""
    t = text(value)
    if t is None:
        return None
    try:
        parsed = phonenumbers.parse(t, (default_region or "AU").upper())
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    return re.sub(r"[^\d+]", "", t) or t


def email(value: Any) -> str | None:
    t = text(value)
    return None if t is None else t.removeprefix("mailto:").strip().casefold() or None


def website(value: Any) -> str | None:
    t = text(value)
    return None if t is None else re.sub(r"^https?://(www\.)?|^www\.|/+$", "", t.casefold()) or None


def identifier(value: Any) -> str | None:
    """ABN/ACN/TFN/company numbers and postcodes: spaces, dashes and dots do not count."""
    t = text(value)
    return None if t is None else re.sub(r"[\s\-.]", "", t).upper() or None


def iso_date(value: Any) -> str | None:
    """Dates: a date, a datetime at midnight or an ISO string (`1980-02-29`, `1980-02-29T00:00:00`)."""
    if isinstance(value, date | datetime):
        return (value.date() if isinstance(value, datetime) else value).isoformat()
    t = text(value)
    if t is None:
        return None
    m = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]00:00(?::00(?:\.0+)?)?(?:Z|[+-]\d\d:?\d\d)?)?$", t)
    if m:  # a date-time at midnight, in whatever zone it was written, is that day
        return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    m = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", t)  # d/m/yyyy, as AU and NZ write dates
    if m:
        return f"{m.group(3)}-{int(m.group(2)):02d}-{int(m.group(1)):02d}"
    return t


# --- names ----------------------------------------------------------------------------------------------

_LEGAL = (
    (r"\bp/l\b", "pty ltd"), (r"\bproprietary\b", "pty"), (r"\blimited\b", "ltd"), (r"\bincorporated\b", "inc"), (r"\bcompany\b", "co"),
    (r"\bcorporation\b", "corp"), (r"\band\b", "&"),
)
_BUSINESS_WORDS = re.compile(r"\b(pty|ltd|inc|co|corp|llc|plc|trust|fund|partnership|group|holdings|t/as)\b")


def person_name(value: Any) -> str | None:
    """Given, middle and family names: whitespace, case and accents do not count."""
    t = text(value)
    return None if t is None else _fold(t) or None


_TRUST_WORDING = re.compile(r"^(?:the )?(?:(?:the )?trustees? for|t/f|atf) (?:the )?|^the (?=.* trust$)|(?<= trust) the$")
_TITLE = re.compile(r"^(?:mr|mrs|ms|miss|mx|dr) (?=\w+ \w)")  # "Mr Shane Ward"; never "Dr Lee" alone
_INITIAL = re.compile(r"(?<=\w\w) \w\b(?! &| and\b)|(?<=\w\w) \w(?= &| and\b)")


def client_name(value: Any) -> str | None:
    """A client's display name. `Ward, Shane` = `Shane Ward` (a person's "family, given" order),
    `Pty. Ltd.` = `Proprietary Limited` = `Pty Ltd`, `and` = `&`, a trust's wording (`The Trustee for the
    Ward Family Trust` = `Ward Family Trust (The)` = `Ward Family Trust`) and a middle initial after a given
    name (`Shane A. Ward` = `Shane Ward`); case, accents and punctuation do not count. A legal form left
    off (`Acme` / `Acme Pty Ltd`) and a nickname (`Jo` / `Joanne`) are real differences."""
    t = text(value)
    if t is None:
        return None
    head, comma, tail = t.partition(",")
    if comma and "," not in tail and head.strip() and tail.strip():
        swapped = _fold(f"{tail} {head}")
        if not _BUSINESS_WORDS.search(swapped):  # "Smith, Jones & Co" is not a reversed person
            t = f"{tail} {head}"
    folded = _fold(t)
    for pattern, short in _LEGAL:
        folded = re.sub(pattern, short, folded)
    folded = _SPACES.sub(" ", folded).strip()
    if folded.endswith(" trust") or " trust " in f"{folded} ":
        folded = _TRUST_WORDING.sub("", folded).strip()
    elif not _BUSINESS_WORDS.search(folded):  # a person's title and initials, never a business's ("A & B Plumbing")
        folded = _INITIAL.sub("", _TITLE.sub("", folded))
    return folded or None


# --- street lines ---------------------------------------------------------------------------------------

_STREET_TYPES = {
    "street": "st", "road": "rd", "avenue": "ave", "av": "ave", "drive": "dr", "place": "pl", "court": "ct",
    "crescent": "cres", "cr": "cres", "parade": "pde", "terrace": "tce", "lane": "ln", "highway": "hwy",
    "close": "cl", "boulevard": "blvd", "circuit": "cct", "square": "sq", "esplanade": "esp", "grove": "gr",
    "way": "way", "mount": "mt", "saint": "st", "north": "n", "south": "s", "east": "e", "west": "w",
    "level": "lvl", "suite": "ste", "apartment": "unit", "apt": "unit", "flat": "unit", "u": "unit",
    "pobox": "po box", "corner": "cnr", "and": "&",
}
_UNIT_SLASH = re.compile(r"^(?:unit|ste|u)\s*(\w+)\s*/\s*(?=\d)")
_UNIT_FORMS = (
    re.compile(r"^(?:unit|ste)\s*(\w+)\s*,?\s*(\d+\w*\s.*)$"),  # unit 3, 12 x st / unit 3 12 x st
    re.compile(r"^(\w+)\s*/\s*(\d+\w*\s.*)$"),  # 3/12 x st
)


def _street_words(value: str) -> str:
    folded = _fold(value.replace(",", " , "))
    folded = re.sub(r"\b(?:p\s*o|post\s+office)\s+box\b", "po box", folded)
    words = [_STREET_TYPES.get(w, w) for w in folded.split()]
    return " ".join(words)


def street_key(line1: Any, line2: Any = None, *, city: Any = None) -> str | None:
    """The street part of an address, however it is split over lines: street types abbreviated
    (`Street` = `St`), unit forms unified (`Unit 3, 12 X St` = `3/12 X St`), line breaks and commas as
    spaces, and a trailing line that only repeats the suburb (`city`) dropped."""
    lines = [t for t in (text(line1), text(line2)) if t]
    for t in list(lines):
        lines.remove(t)
        lines.extend(x for x in re.split(r"\s*[\n\r]+\s*", t) if x)
    c = person_name(city)
    if c and len(lines) > 1 and _fold(lines[-1]) == c:
        lines.pop()
    if not lines:
        return None
    joined = " ".join(_street_words(x) for x in lines)
    joined = _SPACES.sub(" ", joined.replace(" , ", " ").replace(",", " ")).strip()
    joined = _UNIT_SLASH.sub(r"\1/", joined)  # unit 3/12 x st, u3/12 x st
    for form in _UNIT_FORMS:
        m = form.match(joined)
        if m:
            joined = f"{m.group(1)}/{m.group(2)}"
            break
    joined = re.sub(r"\s*/\s*", "/", joined)
    return joined.strip() or None


# --- per field ------------------------------------------------------------------------------------------

def canonical(field: str, value: Any, *, default_region: str = "AU") -> str | None:
    """The comparable form of one synced field's value (flattened canonical field names)."""
    prefix, _, part = field.rpartition(".")
    kind = part if prefix in ("address", "postal_address") else field
    fn: Callable[[Any], str | None] | None = _BY_FIELD.get(kind)
    if kind in ("phone", "mobile"):
        return phone(value, default_region)
    if fn is not None:
        return fn(value)
    t = text(value)
    return None if t is None else t


_BY_FIELD: dict[str, Callable[[Any], str | None]] = {
    "name": client_name, "given_name": person_name, "middle_name": person_name, "family_name": person_name,
    "email": email, "website": website, "date_of_birth": iso_date,
    "tax_number": identifier, "business_number": identifier, "company_number": identifier, "postcode": identifier,
    "country": country, "region": region, "city": place,
    "line1": lambda v: street_key(v), "line2": lambda v: street_key(v),
    "status": lambda v: (text(v) or "").casefold() or None,
}


def same(field: str, a: Any, b: Any, *, default_region: str = "AU") -> bool:
    return canonical(field, a, default_region=default_region) == canonical(field, b, default_region=default_region)
