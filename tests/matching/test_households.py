"""Relatives found for all pairs of a household at once agree with the rule for one pair."""

from __future__ import annotations

import itertools
from datetime import date

import numpy as np

from syncworker.domain.profile import Address, ClientKind, ClientProfile
from syncworker.matching.features import Vocab, build_table
from syncworker.matching.households import _relatives, _relatives_many, find_households


def _person(pid: str, name: str, born: date | None) -> ClientProfile:
    return ClientProfile(pid, ClientKind.INDIVIDUAL, name, date_of_birth=born,
                         address=Address(line1="4 Elm Rd", city="Melbourne", postcode="3000"))


def test_relatives_of_many_pairs_are_those_of_each_pair_alone():
    people = [
        _person("a", "Mary Novak", date(1950, 3, 4)),
        _person("b", "Jade Novak", date(1977, 9, 1)),  # another generation, another name: a relative
        _person("c", "Marie Novak", date(1979, 1, 1)),  # a name like Mary's
        _person("d", "Robert Novak", date(1951, 5, 5)),  # born a year after Mary: a typo, not a relative
        _person("e", "Bob Novak", date(1980, 5, 5)),  # Robert's nickname: the same canonical name
        _person("f", "Novak", date(1990, 1, 1)),  # no given name
        _person("g", "Tom Novak", None),  # no birth date
        _person("h", "Zed Novak", date(1930, 12, 31)),
    ]
    table = build_table(people, Vocab(), "AU")
    x, y = (np.asarray(v, dtype=np.int64) for v in zip(*itertools.combinations(range(len(people)), 2), strict=True))
    expected = [_relatives(table, i, j) for i, j in zip(x.tolist(), y.tolist(), strict=True)]
    assert _relatives_many(table, x, y).tolist() == expected
    assert 0 < sum(expected) < len(expected)  # some pairs are relatives and some are not
    homes = find_households(table)
    related = {i for i, j, r in zip(x.tolist(), y.tolist(), expected, strict=True) if r} | {
        j for i, j, r in zip(x.tolist(), y.tolist(), expected, strict=True) if r}
    assert homes.has_relative.tolist() == [i in related and bool(table.dob[i]) for i in range(len(people))]
