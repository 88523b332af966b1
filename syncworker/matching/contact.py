"""Emails, phone numbers (E.164) and street addresses in comparable form."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import phonenumbers

from .text import JOIN as _JOIN
from .text import fold, fold_all

_STREET_TYPES = {
    "st": "street", "str": "street", "rd": "road", "ave": "avenue", "av": "avenue", "dr": "drive",
    "drv": "drive", "ct": "court", "crt": "court", "pl": "place", "cres": "crescent", "cr": "crescent",
    "hwy": "highway", "pde": "parade", "tce": "terrace", "cct": "circuit", "blvd": "boulevard",
    "ln": "lane", "gr": "grove", "cl": "close", "sq": "square", "esp": "esplanade", "pkwy": "parkway",
    "wy": "way", "mews": "mews", "u": "unit", "apt": "unit", "flat": "unit", "lvl": "level", "l": "level",
    "po": "po", "pob": "po box", "gpo": "po",
}


def normalise_email(raw: str | None) -> str:
    if not raw:
        return ""
    email = raw.strip().lower()
    return email if "@" in email and "." in email.rpartition("@")[2] else ""


@lru_cache(maxsize=8)
def _country_code(region: str) -> int:
    return phonenumbers.country_code_for_region(region)


@lru_cache(maxsize=8_192)
def _parse_phone(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(raw: str | None, region: str) -> str:
    """E.164 ('+61412345678') or '' when the value is not a possible phone number.

    National numbers written as a trunk '0' plus 8–10 digits (the common AU/NZ/UK form) are
    converted directly, which gives what phonenumbers gives for them at a fraction of the cost;
    everything else goes through phonenumbers.
    """
    if not raw:
        return ""
    text = raw.strip()
    return _common_form(text.translate(_PHONE_SEPARATORS), text, f"+{_country_code(region)}") or _other_form(text, region)


def normalise_phones(raws: Sequence[str | None], region: str) -> list[str]:
    """normalise_phone of each value. The separators of the ASCII values are dropped all at once (see
    text.folded_words), so a number in a common form costs one test; the others go one at a time."""
    texts = [raw or "" for raw in raws]
    joined = _JOIN.join(texts)
    if not joined.isascii() or joined.count(_JOIN) != len(texts) - 1:
        return [normalise_phone(raw, region) for raw in raws]
    compacts = joined.encode().translate(None, _PHONE_SEPARATOR_BYTES).decode().split(_JOIN)
    national = f"+{_country_code(region)}"
    # No compact form (nothing but separators): nothing to parse either.
    return [_common_form(compact, text, national) or (compact and normalise_phone(text, region))
            for text, compact in zip(texts, compacts, strict=True)]


def _common_form(compact: str, text: str, national: str) -> str:
    """E.164 of a number written in a common form (`compact`: `text` without separators), else ''."""
    if compact.isdigit():
        if compact[0] == "0" and compact[1:2] != "0" and 9 <= len(compact) <= 11:
            return national + compact[1:]
    elif compact[:1] == "+" and compact[1:].isdigit() and compact[1:2] != "0" and "(0)" not in text \
            and 8 <= len(compact) <= 16:
        return compact
    return ""


def _other_form(text: str, region: str) -> str:
    if sum(c.isdigit() for c in text) < 6:
        return ""
    return _parse_phone(text, region)


_PHONE_SEPARATORS = str.maketrans("", "", " -().\t")
_PHONE_SEPARATOR_BYTES = b" -().\t"
MEMOISED = (_parse_phone,)  # the caches normalise_cache empties after each run


def normalise_street(raw: str) -> str:
    """Folded street line with street types spelled out ('12 Smith St.' -> '12 smith street')."""
    return _spelled_out(fold(raw).split())


def normalise_streets(lines: Sequence[str]) -> list[str]:
    """normalise_street of each line, folded and spelled out all together (see text.fold_all)."""
    return fold_all(lines, _STREET_TYPES)


def _spelled_out(words: list[str]) -> str:
    return " ".join(map(_STREET_TYPES.get, words, words))
