"""How much a list looks like it holds families: the share of people who have a relative in it.

A relative here is another person with the same surname and street address whose given name AND date of
birth both clearly differ. In lists with households (real practices), a given-name or birth-date
conflict is strong evidence of a different family member, so the strict family rules apply. In lists
without any (e.g. a registry extract), such conflicts are data-entry noise and the field weights
alone decide. The rate is measured on the data itself, so no labels or tuning are needed.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz.distance import JaroWinkler

from .features import Table


def household_rate(table: Table) -> float:
    people = np.flatnonzero(table.is_person & (table.family_code >= 0) & (table.dob > 0))
    groups: dict[tuple[int, str], list[int]] = {}
    family, street = table.family_code, table.street
    for i in people.tolist():
        if street[i]:
            groups.setdefault((int(family[i]), street[i]), []).append(i)
    if len(people) < 2:
        return 0.0
    with_relative: set[int] = set()
    for group in groups.values():
        if len(group) < 2 or len(group) > 50:
            continue
        for x_pos, x in enumerate(group):
            for y in group[x_pos + 1 :]:
                if _relatives(table, x, y):
                    with_relative.update((x, y))
    return len(with_relative) / len(people)


def _relatives(table: Table, x: int, y: int) -> bool:
    gx, gy = table.given[x], table.given[y]
    if not gx or not gy or table.given_canon_code[x] == table.given_canon_code[y]:
        return False
    if JaroWinkler.normalized_similarity(gx, gy) >= 0.8:
        return False
    dx, dy = int(table.dob[x]), int(table.dob[y])
    return abs(dx // 10000 - dy // 10000) >= 2  # a different generation or sibling, not a typo
