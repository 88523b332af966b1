"""Families in a list: who lives with a relative, and when a given-name + birth-date conflict means one.

A relative here is another person with the same surname and street address whose given name AND date of
birth both clearly differ. In lists with households (real practices), a given-name or birth-date
conflict is strong evidence of a different family member, so the strict family rules apply. In lists
without any (e.g. a registry extract), such conflicts are data-entry noise and the field weights
alone decide. The rate is measured on the data itself, so no labels or tuning are needed.

Outside strict lists, a pair whose given name and birth date both differ is still a relative by
default. It is let through (to be decided by the rest of its evidence) only when both hold:
- the data show that whole fields are corrupted: among candidate pairs that agree on everything
  else, a measurable share disagree entirely on the birth date, and another on the given name;
- the pair is in no family context: neither record has a relative in its own list (for duplicates
  within one list: no third record that is a relative of both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import JaroWinkler

from .features import Table

# Minimum anchor pairs, and minimum share of them with a wholly different field, for the data to
# count as field-corrupting. Real practices show < 1 % given-name conflicts; FEBRL ~9 %.
_MIN_ANCHORS = 100
_MIN_GIVEN_NOISE = 0.03
_MIN_DOB_NOISE = 0.02


@dataclass(slots=True)
class Households:
    """Relatives of each person in one list, by (surname, street) group."""

    table: Table
    has_relative: np.ndarray  # bool per record
    people_with_dob: int
    groups: dict[tuple[int, str], list[int]]

    @property
    def rate(self) -> float:
        """Share of people (with surname and birth date) who have a relative in the list."""
        if self.people_with_dob < 2:
            return 0.0
        return int(self.has_relative.sum()) / self.people_with_dob

    def shared_relative(self, i: int, j: int) -> bool:
        """A third record of the list that is a relative of both i and j (a household, not a duplicate)."""
        t = self.table
        candidates = set(self.groups.get(_key(t, i), ())) | set(self.groups.get(_key(t, j), ()))
        return any(k not in (i, j) and _relatives(t, k, i) and _relatives(t, k, j) for k in candidates)


def _key(table: Table, i: int) -> tuple[int, str]:
    return int(table.family_code[i]), table.street[i]


def find_households(table: Table) -> Households:
    people = np.flatnonzero(table.is_person & (table.family_code >= 0) & (table.dob > 0))
    groups: dict[tuple[int, str], list[int]] = {}
    # Python values, not a NumPy scalar per record.
    for i, family, street in zip(people.tolist(), table.family_code[people].tolist(), table.street[people].tolist(),
                                 strict=True):
        if street:
            groups.setdefault((family, street), []).append(i)
    x, y = _pairs_in(groups.values())
    related = _relatives_many(table, x, y)
    has_relative = np.zeros(len(table), dtype=bool)
    has_relative[x[related]] = True
    has_relative[y[related]] = True
    return Households(table, has_relative, len(people), groups)


def _pairs_in(groups) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (x, y), x before y, of the members of each group of 2 to 50 (a larger one is a
    block of flats or a placeholder address, not a family)."""
    xs: list[int] = []
    ys: list[int] = []
    for group in groups:
        if 2 <= len(group) <= 50:
            for at, x in enumerate(group[:-1]):
                xs.extend([x] * (len(group) - 1 - at))
                ys.extend(group[at + 1:])
    return np.asarray(xs, dtype=np.int64), np.asarray(ys, dtype=np.int64)


def household_rate(table: Table) -> float:
    return find_households(table).rate


def _relatives(table: Table, x: int, y: int) -> bool:
    """Records x and y of one household are relatives, not one person: given names that differ (not
    nicknames of one another, not a typo) and birth years two or more apart. The rule for one pair;
    `_relatives_many` applies it to many at once and must agree with it (tests/matching/test_households.py)."""
    gx, gy = table.given[x], table.given[y]
    if not gx or not gy or table.given_canon_code[x] == table.given_canon_code[y]:
        return False
    if JaroWinkler.normalized_similarity(gx, gy) >= 0.8:
        return False
    dx, dy = int(table.dob[x]), int(table.dob[y])
    if not dx or not dy:
        return False
    return abs(dx // 10000 - dy // 10000) >= 2  # a different generation or sibling, not a typo


def _relatives_many(table: Table, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`_relatives` of each pair (x, y): the tests on codes and dates for all pairs at once, the
    given names' similarity only for the pairs those leave."""
    dx, dy = table.dob[x].astype(np.int64), table.dob[y].astype(np.int64)
    given = table.present("given")
    maybe = (given[x] & given[y] & (table.given_canon_code[x] != table.given_canon_code[y])
             & (dx != 0) & (dy != 0) & (np.abs(dx // 10000 - dy // 10000) >= 2))
    at = np.flatnonzero(maybe)
    similarity = JaroWinkler.normalized_similarity
    out = np.zeros(len(x), dtype=bool)
    out[at] = [similarity(a, b) < 0.8 for a, b in zip(table.given[x[at]].tolist(), table.given[y[at]].tolist(),
                                                      strict=True)]
    return out


def fields_corrupted(levels: dict[str, np.ndarray]) -> bool:
    """Whether the candidate pairs show whole-field corruption of both birth dates and given names.

    Anchors are pairs agreeing on everything else (surname, street, and the given name or the birth
    date): the share of them whose birth date (given name) wholly differs estimates how often that
    field is replaced by noise, i.e. its m-probability at the 'disagree' level.
    """
    family, street, given, dob = levels["family"], levels["street"], levels["given"], levels["dob"]
    place = (family == 1) & ((street == 1) | (street == 2))
    dob_anchor = place & (given == 1) & (levels["postcode"] == 1) & (dob > 0)
    given_anchor = place & (dob == 1) & (given > 0)
    n_dob, n_given = int(dob_anchor.sum()), int(given_anchor.sum())
    if n_dob < _MIN_ANCHORS or n_given < _MIN_ANCHORS:
        return False
    dob_noise = int((dob_anchor & (dob == 3)).sum()) / n_dob
    given_noise = int((given_anchor & (given == 4)).sum()) / n_given
    return dob_noise >= _MIN_DOB_NOISE and given_noise >= _MIN_GIVEN_NOISE
