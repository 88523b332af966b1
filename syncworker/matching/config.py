"""Matching configuration: thresholds, blocking limits and the m-probabilities of each comparison level.

u-probabilities are never configured: they are estimated from random record pairs of the data being
matched, so a run on new data needs no labels and no tuning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

# P(level | records are the same client), per field, indexed by level (level 0 = missing, unused).
DEFAULT_M: dict[str, tuple[float, ...]] = {
    "name": (0.0, 0.80, 0.10, 0.05, 0.03, 0.02),  # org/cross-kind name: exact, >=.95, >=.88, >=.75, other
    "family": (0.0, 0.88, 0.06, 0.03, 0.03),  # exact, jw>=.92, jw>=.80, other
    "given": (0.0, 0.85, 0.06, 0.05, 0.04),  # exact or nickname, jw>=.92, initial or jw>=.80, other
    "middle": (0.0, 0.95, 0.05),  # same initial, different initial
    "dob": (0.0, 0.90, 0.07, 0.03),  # exact, one digit or day/month swapped, other
    "email": (0.0, 0.88, 0.04, 0.08),  # same address, one mistyped (jw>=.92), other
    "phone": (0.0, 0.85, 0.15),
    "tax": (0.0, 0.98, 0.98, 0.02),  # full agree, visible digits agree (masked), disagree
    "bizno": (0.0, 0.97, 0.03),  # ABN / company number agree, disagree
    "street": (0.0, 0.85, 0.10, 0.05),  # >=.95, >=.80, other
    "postcode": (0.0, 0.90, 0.05, 0.05),  # agree, one digit off or two swapped, other
    "city": (0.0, 0.85, 0.10, 0.05),  # exact, jw>=.90, other
}

# Prior guess of P(level | different clients), used as pseudo-counts so that small lists (where the
# data says little about chance agreement) still get sensible weights. The data dominates at scale.
DEFAULT_U: dict[str, tuple[float, ...]] = {
    "name": (0.0, 1e-5, 1e-5, 1e-4, 3e-3, 0.99687),
    "family": (0.0, 5e-3, 3e-3, 0.02, 0.972),
    "given": (0.0, 0.01, 5e-3, 0.03, 0.955),
    "middle": (0.0, 0.1, 0.9),
    "dob": (0.0, 5e-5, 5e-4, 0.99945),
    "email": (0.0, 1e-5, 1e-4, 0.99989),
    "phone": (0.0, 1e-5, 0.99999),
    "tax": (0.0, 1e-7, 1e-3, 0.998999),
    "bizno": (0.0, 1e-6, 0.999999),
    "street": (0.0, 1e-4, 1e-3, 0.9989),
    "postcode": (0.0, 0.005, 0.01, 0.985),
    "city": (0.0, 0.01, 0.005, 0.985),
}


@dataclass(frozen=True)
class MatchConfig:
    default_region: str = "AU"  # phone numbers without a country code
    link_auto_threshold: float = 0.999
    link_review_threshold: float = 0.2
    duplicate_threshold: float = 0.999
    duplicate_review_threshold: float = 0.5
    cluster_min_average: float = 0.8  # two groups of duplicates merge only if their pairs score this on average
    runner_up_margin_bits: float = 6.0  # best must beat runner-up by this log2 likelihood ratio
    prior_log2_odds: float = -6.0  # prior odds that a blocked candidate pair is a match (EM start value)
    estimate_prior: bool = True  # fit the prior to the candidate pairs of each run (no labels needed)
    prior_log2_odds_max: float = -2.0  # upper bound of the fitted prior
    household_rate_strict: float = 0.005  # share of people with a relative above which family rules apply
    max_block_pairs: int = 300  # a blocking key producing more candidate pairs than this is skipped
    u_sample_pairs: int = 50_000  # random pairs used to estimate u-probabilities
    u_prior_pairs: float = 5_000.0  # weight of DEFAULT_U, in pairs, against the pairs observed
    workers: int = 2  # rapidfuzz threads; with 2 or more, large lists are also normalised in two processes
    background_table_min: int = 20_000  # records per side (per half, deduplicating) for that; 0: never
    random_seed: int = 7
    em_iterations: int = 10  # EM rounds fitting m to each run's candidate pairs (0: configured m as is)
    m_prior_pairs: float = 100.0  # weight of the configured m, in pairs, against the pairs EM observes
    m_probabilities: Mapping[str, tuple[float, ...]] = field(default_factory=lambda: dict(DEFAULT_M))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MatchConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown matching settings: {', '.join(sorted(unknown))}")
        values = dict(data)
        if "m_probabilities" in values:
            merged = dict(DEFAULT_M)
            for name, levels in values["m_probabilities"].items():
                if name not in DEFAULT_M or len(levels) != len(DEFAULT_M[name]):
                    raise ValueError(f"m_probabilities.{name}: expected {len(DEFAULT_M.get(name, ()))} levels")
                merged[name] = tuple(float(x) for x in levels)
            values["m_probabilities"] = merged
        config = cls(**values)
        config.validate()
        return config

    @classmethod
    def default(cls, path: Path | None = None) -> MatchConfig:
        """The settings in `path`, by default matching.yaml of the config folder in force (SYNCWORKER_CONFIG_DIR)."""
        from syncworker.config import config_file

        path = path or config_file("matching.yaml")
        if not path.exists():
            return cls()
        data = yaml.safe_load(path.read_text()) or {}
        return cls.from_mapping(data)

    def with_changes(self, **changes: Any) -> MatchConfig:
        return replace(self, **changes)

    def validate(self) -> None:
        for name in ("link_auto_threshold", "link_review_threshold", "duplicate_threshold",
                     "duplicate_review_threshold"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.link_review_threshold > self.link_auto_threshold:
            raise ValueError("link_review_threshold must not exceed link_auto_threshold")
        if self.duplicate_review_threshold > self.duplicate_threshold:
            raise ValueError("duplicate_review_threshold must not exceed duplicate_threshold")
        if self.background_table_min < 0:
            raise ValueError(f"background_table_min must be 0 (never) or a number of records, got {self.background_table_min}")
