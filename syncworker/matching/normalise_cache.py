"""The memo caches of the normalisers, emptied after each run (whole org names and street lines are
remembered per run by features.Vocab instead)."""

from __future__ import annotations

from .contact import _parse_phone
from .names import _person_tokens, _structural, parse_person
from .text import fold

_CACHED = (fold, parse_person, _person_tokens, _structural, _parse_phone)


def clear_caches() -> None:
    for function in _CACHED:
        function.cache_clear()
