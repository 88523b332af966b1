"""The memo caches of the normalisers, emptied after each run (whole org names and street lines are
remembered per run by features.Vocab instead). Each normaliser module names its own memoised
functions (`MEMOISED`), so they stay private to it."""

from __future__ import annotations

from . import contact, names
from .text import fold

_CACHED = (fold, *names.MEMOISED, *contact.MEMOISED)


def clear_caches() -> None:
    for function in _CACHED:
        function.cache_clear()
