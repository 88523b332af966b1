"""The memo caches of the normalisers, emptied after each run."""

from __future__ import annotations

from .contact import _parse_phone, normalise_street
from .names import parse_org, parse_person, person_tokens
from .text import fold

_CACHED = (fold, parse_org, parse_person, person_tokens, normalise_street, _parse_phone)


def clear_caches() -> None:
    for function in _CACHED:
        function.cache_clear()
