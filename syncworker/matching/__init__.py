"""Matching engine: normalise, block, score and decide links and duplicates between client lists.

Pure domain code (no I/O besides reading the default configuration file).
"""

from .config import MatchConfig
from .engine import (
    Cluster,
    DuplicatePair,
    DuplicateResult,
    LinkResult,
    MatchCandidate,
    find_duplicates,
    link_records,
    match_records,
)

__all__ = [
    "Cluster", "DuplicatePair", "DuplicateResult", "LinkResult", "MatchCandidate", "MatchConfig", "find_duplicates",
    "link_records", "match_records",
]
