"""Column-at-a-time shortcuts in comparison and feature building give what the per-value rules give."""

from __future__ import annotations

import random

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from syncworker.matching.compare import (
    _each_pair_once,
    _same_given,
    _same_initial,
    _sim,
    _sim_once,
    _slip_lookup,
    _slipped_nicknames,
    _street_holds_other,
    each_key_once,
)
from syncworker.matching.features import Vocab, build_table
from syncworker.matching.nicknames import KNOWN_NAMES, canonical_given, nickname_compatible, slipped_nickname
from syncworker.sample import generate_practice


def _slips(name: str, rng: random.Random) -> str:
    k = rng.randrange(len(name))
    return rng.choice([name[:k] + name[k + 1:], name[:k] + "x" + name[k + 1:], name[:k] + name[k:k + 2][::-1] + name[k + 2:]])


def test_slipped_nicknames_of_a_column_are_those_of_each_pair() -> None:
    rng = random.Random(3)
    known = sorted(KNOWN_NAMES)
    names = [*rng.sample(known, 100), *(_slips(n, rng) for n in rng.sample(known, 150)), "", "al", "toyn", "jses"]
    xa = [rng.choice(names) for _ in range(6000)]
    xb = [rng.choice(names) for _ in range(6000)]
    expected = np.asarray([slipped_nickname(x, y) for x, y in zip(xa, xb, strict=True)], dtype=bool)
    assert expected.sum() > 50 and (~expected).sum() > 50  # both answers are asked for
    # each side numbers its names its own way, as each table does
    side_a, side_b = sorted(set(names)), sorted(set(names), reverse=True)
    lookup_a, lookup_b = _slip_lookup(np.asarray(side_a, dtype=object)), _slip_lookup(np.asarray(side_b, dtype=object))
    codes_a = np.asarray([side_a.index(x) for x in xa])
    codes_b = np.asarray([side_b.index(x) for x in xb])
    assert np.array_equal(_slipped_nicknames(lookup_a, codes_a, lookup_b, codes_b), expected)
    empty = np.asarray([], dtype=np.int64)
    assert _slipped_nicknames(lookup_a, empty, lookup_b, empty).shape == (0,)


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


def test_pairs_scored_once_per_distinct_pair_score_as_each_pair_does() -> None:
    practice = generate_practice(400, 7)
    table = build_table(practice.local + practice.local[:60], Vocab(), "AU")
    rng = np.random.default_rng(5)
    i, j = rng.integers(0, len(table), 4000), rng.integers(0, len(table), 4000)
    i, j = np.concatenate([i, i[:1500], j[:500]]), np.concatenate([j, j[:1500], j[:500]])  # pairs repeat
    jw = JaroWinkler.normalized_similarity
    for column, scorer in (("family", jw), ("given", jw), ("city", jw), ("street", fuzz.ratio), ("name_key", fuzz.ratio)):
        each = _sim(scorer, getattr(table, column)[i], getattr(table, column)[j], 1)
        assert np.array_equal(_sim_once(scorer, table, table, i, j, column, column, 1), each)
    assert np.array_equal(_sim_once(jw, table, table, i, j, "given", "given", 1, table.given_canon, table.given_canon),
                          _sim(jw, table.given_canon[i], table.given_canon[j], 1))
    for column_a, column_b in (("given_initial", "given_initial"), ("family_initial", "given_initial"),
                               ("generation", "generation"), ("middle_initial", "middle_initial")):
        as_text = getattr(table, column_a)[i] == getattr(table, column_b)[j]
        assert np.array_equal(_same_initial(table, table, i, j, column_a, column_b), as_text)


def test_each_distinct_pair_of_codes_is_found_once_whatever_their_size() -> None:
    rng = np.random.default_rng(2)
    for n, high in ((0, 3), (1, 3), (5000, 40), (3000, 2**31 - 1)):  # the last too wide to pack with positions
        x, y = rng.integers(-1, high, n).astype(np.int32), rng.integers(-1, high, n).astype(np.int32)
        first, inverse = _each_pair_once(x, y)
        pairs = list(zip(x.tolist(), y.tolist(), strict=True))
        assert sorted(first.tolist()) == sorted({p: k for k, p in reversed(list(enumerate(pairs)))}.values())
        assert np.array_equal(x[first][inverse], x) and np.array_equal(y[first][inverse], y)
    keys = np.asarray([2**62, 5, 2**62, 0, 5, 5])  # too wide to pack with positions: np.unique's answer
    first, inverse = each_key_once(keys)
    assert first.tolist() == [3, 1, 0] and inverse.tolist() == [2, 1, 2, 0, 1, 1]
    first, inverse = each_key_once(np.where(keys > 9, 9, keys))  # packed: the same answer
    assert first.tolist() == [3, 1, 0] and inverse.tolist() == [2, 1, 2, 0, 1, 1]
    first, inverse = each_key_once(np.where(keys > 5, 2, keys))  # keys below their count: the same answer
    assert first.tolist() == [3, 0, 1] and inverse.tolist() == [1, 2, 1, 0, 2, 2]
    for n, high in ((1, 1), (2000, 50), (2000, 1999), (2000, 2000)):  # small keys by a table, the others by sorting
        keys = rng.integers(0, high, n)
        first, inverse = each_key_once(keys)
        distinct = sorted(set(keys.tolist()))
        assert first.tolist() == [keys.tolist().index(k) for k in distinct]
        assert inverse.tolist() == [distinct.index(k) for k in keys.tolist()]


def _pairs_of(table, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(table), n), rng.integers(0, len(table), n)
    return np.concatenate([i, i[: n // 3]]), np.concatenate([j, (j + 1)[: n // 3] % len(table)])  # pairs repeat


def test_street_lines_one_holding_the_other_are_those_token_set_ratio_and_the_typo_rule_find() -> None:
    rng = random.Random(11)
    words = ["12", "3a", "main", "st", "street", "unit", "medical", "centre", "level", "the", "park", "rd", "north"]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 5))) for _ in range(3000)]
    pairs = [(x, " ".join(rng.sample(x.split(), rng.randint(0, len(x.split()))))) for x in lines]  # subsets
    pairs += [(x, x.replace("medical", rng.choice(["meedical", "medcal", "mdical", "madical"]))) for x in lines]
    pairs += [(x, y + " " + x) for x, y in zip(lines, reversed(lines), strict=True)]
    pairs += list(zip(lines, reversed(lines), strict=True))
    set_ratio = process.cpdist([x for x, _ in pairs], [y for _, y in pairs], scorer=fuzz.token_set_ratio) >= 100
    found = [_street_holds_other(x, y) for x, y in pairs]
    for (x, y), whole, holds in zip(pairs, set_ratio.tolist(), found, strict=True):
        wx, wy = x.split(), y.split()
        short, others = (wx, set(wy)) if len(wx) <= len(wy) else (wy, set(wx))
        missing = [w for w in short if w not in others]
        typo = (len(missing) == 1 and len(missing[0]) >= 4 and not missing[0][:1].isdigit()
                and any(len(w) >= 4 and DamerauLevenshtein.distance(missing[0], w) <= 1 for w in others))
        assert holds == (whole or typo), (x, y)
    assert 1000 < sum(found) < len(pairs) - 1000  # both answers are asked for


def test_same_given_is_the_rule_applied_to_each_pair() -> None:
    practice = generate_practice(600, 9)
    table = build_table(practice.local + practice.local[:60], Vocab(), "AU")
    i, j = _pairs_of(table, 5000, 4)
    jw = JaroWinkler.normalized_similarity
    for sa, sb in (("", ""), ("", "2"), ("2", ""), ("2", "2")):
        xa, xb = getattr(table, "given" + sa)[i].tolist(), getattr(table, "given" + sb)[j].tolist()
        expected = []
        for x, y in zip(xa, xb, strict=True):
            sim = np.float32(jw(x, y))
            if sim < np.float32(0.85):
                sim = max(sim, np.float32(jw(canonical_given(x), canonical_given(y))))
            initial = (len(x) == 1 or len(y) == 1) and x[:1] == y[:1]
            expected.append(bool(x and y) and bool(sim >= np.float32(0.85) or initial or nickname_compatible(x, y)
                                                   or slipped_nickname(x, y)))
        same = _same_given(table, table, i, j, sa, sb, 1)
        assert same.tolist() == expected, (sa, sb)
        assert same.any() and (~same).any()
