"""Matching engine: normalise, block, score and decide links and duplicates between client lists.

Pure domain code (no I/O besides reading the default configuration file).

The engine's names are imported on first use: the second process that normalises one side of a large
run (normalise_worker) imports this package too, and needs none of the scoring (rapidfuzz, clusters):
importing it cost that process a tenth of a second before it could start its share.
"""

from typing import TYPE_CHECKING

from .config import MatchConfig

if TYPE_CHECKING:
    from .engine import (
        Cluster,
        DuplicatePair,
        DuplicateResult,
        LinkColumns,
        LinkResult,
        MatchCandidate,
        find_duplicates,
        link_columns,
        link_records,
        match_records,
    )

__all__ = [
    "Cluster", "DuplicatePair", "DuplicateResult", "LinkColumns", "LinkResult", "MatchCandidate", "MatchConfig",
    "find_duplicates", "link_columns", "link_records", "match_records",
]


def __getattr__(name: str) -> object:
    if name in __all__:
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
