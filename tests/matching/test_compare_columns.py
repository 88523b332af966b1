"""Column-at-a-time shortcuts in comparison and feature building give what the per-value rules give."""

from __future__ import annotations

import random

import numpy as np

from syncworker.matching.compare import _slipped_nicknames
from syncworker.matching.features import Vocab, build_table
from syncworker.matching.nicknames import KNOWN_NAMES, slipped_nickname
from syncworker.sample import generate_practice


def _slips(name: str, rng: random.Random) -> str:
    k = rng.randrange(len(name))
    return rng.choice([name[:k] + name[k + 1:], name[:k] + "x" + name[k + 1:], name[:k] + name[k:k + 2][::-1] + name[k + 2:]])


def test_slipped_nicknames_of_a_column_are_those_of_each_pair() -> None:
    rng = random.Random(3)
    known = sorted(KNOWN_NAMES)
    names = [*rng.sample(known, 100), *(_slips(n, rng) for n in rng.sample(known, 150)), "", "al", "toyn", "jses"]
    xa = np.asarray([rng.choice(names) for _ in range(6000)], dtype=object)
    xb = np.asarray([rng.choice(names) for _ in range(6000)], dtype=object)
    expected = np.asarray([slipped_nickname(x, y) for x, y in zip(xa, xb, strict=True)], dtype=bool)
    assert expected.sum() > 50 and (~expected).sum() > 50  # both answers are asked for
    assert np.array_equal(_slipped_nicknames(xa, xb), expected)
    assert _slipped_nicknames(np.asarray([], dtype=object), np.asarray([], dtype=object)).shape == (0,)


def test_namesakes_and_sorted_words_are_those_of_each_record() -> None:
    practice = generate_practice(400, 7)
    table = build_table(practice.local + practice.local[:60], Vocab(), "AU")  # some people twice
    named = table.is_person & (table.family_code >= 0) & (table.given_canon_code >= 0)
    for by, given in (("given", table.given_canon_code.tolist()), ("initial", table.given_initial.tolist())):
        keys = list(zip(table.family_code.tolist(), given, table.postcode.tolist(), strict=True))
        expected = [sum(1 for m, other in enumerate(keys) if named[m] and other == key) if named[k] else 0
                    for k, key in enumerate(keys)]
        assert table.namesakes(by).tolist() == expected
        assert max(expected) >= 2
    for column in ("name_key", "street"):
        assert table.sorted_words(column).tolist() == [" ".join(sorted(v.split())) for v in getattr(table, column)]
