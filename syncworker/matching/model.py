"""Fellegi–Sunter weights: m from configuration, u estimated from the data, no labels needed.

u (the chance that two *different* records agree at a level) is measured on the data being
matched: exactly, from value frequencies, for the "agree" level of categorical fields, and from a
random sample of record pairs for the fuzzy levels. Each level's weight is log2(m / u).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .compare import FIELDS, Comparison, compare, each_key_once
from .config import DEFAULT_U, MatchConfig
from .features import Table

U_FLOOR = 1e-7
# Identifiers whose agreement ties two records together for learning the m of the other fields.
_ANCHORS = ("email", "phone", "tax", "bizno", "dob")
_SAME_PERSON: dict[str, tuple[str, ...]] = {}
# Fields whose level 1 means "same categorical value": (left codes, right codes) getters.
_EXACT_CODES = {
    "email": lambda t: t.email, "phone": lambda t: t.phone1, "tax": lambda t: t.tax_full,
    "bizno": lambda t: t.bizno, "postcode": lambda t: t.postcode, "family": lambda t: t.family_code,
    "given": lambda t: t.given_canon_code, "dob": lambda t: np.where(t.dob > 0, t.dob, -1),
    "city": lambda t: t.city_code, "name": lambda t: t.name_code,
}


@dataclass(frozen=True, slots=True)
class Model:
    weights: dict[str, np.ndarray]  # field -> log2 Bayes factor per level (level 0 = 0)
    m: dict[str, np.ndarray] | None = None  # field -> P(level | same client), level 0 unused
    u: dict[str, np.ndarray] | None = None  # field -> P(level | different clients)

    def total(self, comparison: Comparison) -> np.ndarray:
        return self._total(comparison.levels, len(comparison))

    def _total(self, levels: dict[str, np.ndarray], n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.float64)
        for name in FIELDS:
            out += self.weights[name][levels[name]]
        return out


def _collision(a: np.ndarray, b: np.ndarray, same: bool) -> tuple[float, float] | None:
    """(pairs sharing a value by chance, pairs where both have a value) over all record pairs.

    For each value, one pairing per record is set aside as possibly the true match, so that in
    small lists the matches themselves are not mistaken for chance agreement.
    """
    a, b = a[a >= 0], b[b >= 0]
    if len(a) == 0 or len(b) == 0:
        return None
    values_a, ca = _value_counts(a)
    if same:
        pairs = len(a) * (len(a) - 1) / 2
        chance = np.maximum(ca - 1, 0) * np.maximum(ca - 2, 0) / 2
        return (float(chance.sum()), float(pairs)) if pairs else None
    values_b, cb = _value_counts(b)
    _, in_a, in_b = np.intersect1d(values_a, values_b, assume_unique=True, return_indices=True)
    ca, cb = ca[in_a], cb[in_b]  # a value on one side only shares nothing: 0 pairs
    chance = ca * cb - np.minimum(ca, cb)
    return float(chance.sum()), float(len(a)) * len(b)


def _value_counts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values (ascending) and how many times each occurs (float64), by one plain sort.
    The counts are whole numbers, so any sum of their products is exact and does not depend on order."""
    ordered = np.sort(codes)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts], np.diff(np.append(starts, len(ordered))).astype(np.float64)


def _sample_pairs(a: Table, b: Table, n: int, rng: np.random.Generator, same: bool):
    """Random pairs, drawn half among people and half among organisations so both rule sets get u."""
    lefts, rights = [], []
    for want_person in (True, False):
        ia = np.flatnonzero(a.is_person == want_person)
        ib = np.flatnonzero(b.is_person == want_person)
        if len(ia) == 0 or len(ib) == 0:
            continue
        draws = min(n // 2, len(ia) * len(ib))
        x = ia[rng.integers(0, len(ia), draws)]
        y = ib[rng.integers(0, len(ib), draws)]
        keep = x != y if same else np.ones(len(x), dtype=bool)
        lefts.append(x[keep])
        rights.append(y[keep])
    if not lefts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(lefts), np.concatenate(rights)


def estimate_model(a: Table, b: Table, config: MatchConfig, same: bool) -> Model:
    rng = np.random.default_rng(config.random_seed)
    si, sj = _sample_pairs(a, b, config.u_sample_pairs, rng, same)
    sample = compare(a, b, si, sj, config.workers)
    weights: dict[str, np.ndarray] = {}
    ms: dict[str, np.ndarray] = {}
    us: dict[str, np.ndarray] = {}
    for name in FIELDS:
        m = np.asarray(config.m_probabilities[name], dtype=np.float64)
        levels = sample.levels[name]
        prior = np.asarray(DEFAULT_U[name], dtype=np.float64) * config.u_prior_pairs
        counts = np.bincount(levels, minlength=len(m)).astype(np.float64)[: len(m)]
        observed = counts[1:].sum()
        u = (counts + prior) / (observed + config.u_prior_pairs)
        if name in _EXACT_CODES:
            exact = _collision(_EXACT_CODES[name](a), _EXACT_CODES[name](b), same)
            if exact is not None:
                agree, total = exact
                u[1] = (agree + prior[1]) / (total + config.u_prior_pairs)
        u = np.clip(u, U_FLOOR, 1.0)
        w = np.zeros(len(m))
        w[1:] = np.log2(m[1:] / u[1:])
        weights[name] = w
        ms[name], us[name] = m, u
    return Model(weights, ms, us)


def refine_m(model: Model, comparison: Comparison, config: MatchConfig, cap_none: int = 0) -> Model:
    """m-probabilities fitted by EM to the candidate pairs of this run (u stays as measured), so a list
    whose duplicates differ more than usual (dates off by a month, mistyped emails) is weighed by its
    own error rates, without labels. The configured m acts as `m_prior_pairs` pseudo-pairs, so a
    small or one-sided list stays near the configured values; pairs a rule rules out count as non-matches."""
    if config.em_iterations <= 0 or len(comparison) == 0 or model.m is None or model.u is None:
        return model
    allowed = comparison.cap != cap_none
    counts = {name: comparison.levels[name] for name in FIELDS}
    # Each field's m is learnt only from pairs that another identifier ties together (splink trains
    # on blocking rules for the same reason): among pairs sharing just a common name, namesakes
    # would otherwise teach EM that disagreeing birth dates and emails are usual among matches.
    agree = {name: counts[name] == 1 for name in _ANCHORS}
    tying: dict[tuple[str, ...], np.ndarray] = {}  # fields that are no anchor share their anchors
    anchored = {}
    for name in FIELDS:
        anchors = tuple(a for a in _ANCHORS if a != name and a not in _SAME_PERSON.get(name, ()))
        if anchors not in tying:
            tying[anchors] = np.flatnonzero(np.logical_or.reduce([agree[a] for a in anchors]))
        anchored[name] = tying[anchors]
    anchored_levels = {name: counts[name][anchored[name]] for name in FIELDS}
    # Pairs repeat a few thousand patterns of levels, and (with their penalty and whether a rule
    # rules them out) a few thousand groups: each iteration sums the weights once per pattern (the
    # same additions in the same order as Model.total, so the same sums) and takes each group's
    # posterior once, which every pair of the group then holds.
    patterns, pattern_of = _level_patterns(counts, model.m)
    penalties = np.unique(comparison.penalty)
    group_key = (pattern_of * len(penalties) + np.searchsorted(penalties, comparison.penalty)) * 2 + allowed
    first, group_of = each_key_once(group_key)
    group_pattern, group_penalty, group_allowed = pattern_of[first], comparison.penalty[first], allowed[first]
    anchored_groups = {name: group_of[anchored[name]] for name in FIELDS}
    current = model
    prior = config.prior_log2_odds
    for _ in range(config.em_iterations):
        evidence = current._total(patterns, len(patterns[FIELDS[0]]))[group_pattern] - group_penalty
        group_post = np.where(group_allowed, probability(evidence + prior), 0.0)
        post = group_post[group_of]
        share = min(max(float(post.mean()), 1e-9), 1 - 1e-9)
        prior = min(float(np.log2(share / (1 - share))), config.prior_log2_odds_max)
        weights = {}
        for name in FIELDS:
            m0, u = model.m[name], model.u[name]
            # Only anchored pairs carry mass (the others would add exact zeros to the same sums).
            mass = np.bincount(anchored_levels[name], weights=group_post[anchored_groups[name]], minlength=len(m0))[: len(m0)]
            seen = mass[1:].sum()
            m = m0.copy()
            m[1:] = (mass[1:] + config.m_prior_pairs * m0[1:]) / (seen + config.m_prior_pairs)
            m = np.clip(m, 1e-4, 1.0)
            w = np.zeros(len(m))
            w[1:] = np.log2(m[1:] / u[1:])
            weights[name] = w
        current = Model(weights, model.m, model.u)
    return current


def _level_patterns(levels: dict[str, np.ndarray], m: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The distinct combinations of levels over FIELDS (field -> level per pattern), and each
    pair's pattern."""
    code = np.zeros(len(levels[FIELDS[0]]), dtype=np.int64)
    for name in FIELDS:  # at most 6 levels a field: 12 fields fit an int64
        code = code * len(m[name]) + levels[name]
    first, pattern_of = each_key_once(code)
    distinct = code[first]
    patterns = {}
    for name in reversed(FIELDS):
        distinct, patterns[name] = np.divmod(distinct, len(m[name]))
    return {name: patterns[name].astype(np.int8) for name in FIELDS}, pattern_of


def probability(log2_odds: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-np.clip(log2_odds, -60, 60)))


def estimate_prior(evidence_log2: np.ndarray, config: MatchConfig) -> float:
    """log2 prior odds that a candidate pair is a match, fitted by EM on the candidates themselves
    (the Fellegi–Sunter lambda; m and u stay fixed). Starts from, and falls back to, the configured
    prior; bounded above so that a list of near-certain pairs cannot inflate every score."""
    if not config.estimate_prior or len(evidence_log2) == 0:
        return config.prior_log2_odds
    prior = config.prior_log2_odds
    for _ in range(20):
        share = float(probability(evidence_log2 + prior).mean())
        share = min(max(share, 1e-9), 1 - 1e-9)
        updated = float(np.log2(share / (1 - share)))
        if abs(updated - prior) < 0.01:
            prior = updated
            break
        prior = updated
    return min(prior, config.prior_log2_odds_max)
