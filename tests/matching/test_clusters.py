"""Guarded clustering: large components are split where they chain unrelated records, at a cost
linear in the pairs handled."""

import numpy as np

from syncworker.matching.clusters import FULL_PAIRS_MAX, HUBS, build_clusters
from syncworker.matching.compare import LINK, NONE


def _scorer(person_of, calls):
    """Pairs of one person score 0.99; of two people 0.001 and ruled out."""
    def score(i, j):
        calls.append(len(i))
        same = person_of[i] == person_of[j]
        return np.where(same, 0.99, 0.001), np.where(same, LINK, NONE).astype(np.int8)
    return score


def _run(person_of, a, b, s):
    calls = []
    a, b, s = np.asarray(a), np.asarray(b), np.asarray(s, dtype=float)
    clusters, split = build_clusters(len(person_of), a, b, s, np.ones(len(a), bool),
                                     _scorer(np.asarray(person_of), calls), 0.5)
    return clusters, split, calls


def test_a_bridge_between_two_large_groups_is_split_off():
    size = FULL_PAIRS_MAX + 3  # larger than the all-pairs limit: the sparse path
    person_of = [0] * size + [1] * size
    a = [k for k in range(size - 1)] + [size + k for k in range(size - 1)] + [size - 1]
    b = [k + 1 for k in range(size - 1)] + [size + k + 1 for k in range(size - 1)] + [size]
    s = [0.99] * (2 * size - 2) + [0.995]  # the bridge is the strongest edge
    clusters, split, _ = _run(person_of, a, b, s)
    assert sorted(m for m, _ in clusters) == [list(range(size)), list(range(size, 2 * size))]
    assert split.tolist() == [False] * (2 * size - 2) + [True]


def test_a_long_chain_costs_pairs_linear_in_its_records():
    n = 3000
    person_of = [k // 3 for k in range(n)]  # a chain through 1000 people, three records each
    a, b = list(range(n - 1)), list(range(1, n))
    clusters, split, calls = _run(person_of, a, b, [0.99] * (n - 1))
    assert sum(calls) <= (HUBS + 1) * n
    # Hubs rule out some cross-person joins; the rest are refused by the candidate pairs themselves.
    assert all(len({person_of[m] for m in members}) == 1 for members, _ in clusters)
    assert len(clusters) == 1000 and split.sum() == 999


def test_small_components_keep_the_all_pairs_guard():
    # a-b and b-c strong, a-c ruled out: b joins one of them, never both.
    clusters, split, _ = _run([0, 0, 1], [0, 1], [1, 2], [0.999, 0.998])
    assert [m for m, _ in clusters] == [[0, 1]] and split.tolist() == [False, True]
