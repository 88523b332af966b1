"""Duplicate pairs -> clusters: connected components, guarded against chaining.

A component of more than two records is rebuilt by merging its strongest edges first, refusing
any merge that would put together two records that are ruled out (a rule such as different given
name and birth date, or a near-zero score) or two groups that on average no longer look alike. So one
record resembling two unrelated clients cannot bridge them.

Every step is linear in the pairs it handles (up to a log factor for sorting and small-into-large
merging): edges are grouped by component once; a component of up to `FULL_PAIRS_MAX` records has all
its pairs scored (a bounded number per record), a larger one only its candidate pairs plus each
member against its `HUBS` best-connected members; and two groups are compared through the running
sums of the scored pairs between them, not pair by pair.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .compare import REVIEW

IMPLAUSIBLE = 0.01  # a pair scoring below this inside a cluster is ruled out
FULL_PAIRS_MAX = 12  # components up to this size have every pair scored
HUBS = 4  # larger ones: every member is also scored against this many best-connected members
ScoreFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
_ALL_PAIRS = [np.triu_indices(k, 1) for k in range(FULL_PAIRS_MAX + 1)]  # (a call per component cost 0.1 ms)


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component label per record (its root), by union-find over the edges; linear."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[ry] = rx
    return np.fromiter((find(x) for x in range(n)), dtype=np.int64, count=n)


def _pairs_to_score(
    members_of: list[np.ndarray], label: np.ndarray, li: np.ndarray, ri: np.ndarray, dup_a: np.ndarray,
    dup_b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(i, j), i < j, pairs inside the components of 3+ records whose scores the linkage uses."""
    ia: list[np.ndarray] = []
    ib: list[np.ndarray] = []
    degree = np.bincount(np.concatenate([dup_a, dup_b]), minlength=len(label))
    large_roots = []
    for members in members_of:
        k = len(members)
        if k <= FULL_PAIRS_MAX:
            x, y = _ALL_PAIRS[k]
            ia.append(members[x])
            ib.append(members[y])
        else:
            large_roots.append(label[members[0]])
            hubs = members[np.argsort(-degree[members], kind="stable")[:HUBS]]
            ia.append(np.repeat(hubs, k))
            ib.append(np.tile(members, len(hubs)))
    if large_roots:  # the candidate pairs inside large components, all at once
        inside = (label[li] == label[ri]) & np.isin(label[li], np.asarray(large_roots))
        ia.append(li[inside])
        ib.append(ri[inside])
    a, b = np.concatenate(ia), np.concatenate(ib)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = lo != hi
    n = len(label)
    code = np.unique(lo[keep] * n + hi[keep])
    return code // n, code % n


def build_clusters(
    n: int, li: np.ndarray, ri: np.ndarray, score: np.ndarray, is_dup: np.ndarray,
    score_pairs: ScoreFn, floor: float,
) -> tuple[list[tuple[list[int], float]], np.ndarray]:
    """Clusters as (member indices, lowest pair score), and which duplicate edges were split off.

    `li, ri, score`: the scored candidate pairs; `is_dup`: those that are duplicate edges.
    """
    edges = np.flatnonzero(is_dup)
    da, db = li[edges].astype(np.int64), ri[edges].astype(np.int64)
    label = _components(n, da, db)
    in_edge = np.zeros(n, dtype=bool)
    in_edge[da] = True
    in_edge[db] = True
    nodes = np.flatnonzero(in_edge)
    order = nodes[np.argsort(label[nodes], kind="stable")]
    cuts = np.flatnonzero(np.r_[True, label[order][1:] != label[order][:-1]]) if len(order) else order
    groups = np.split(order, cuts[1:]) if len(order) else []
    big = [g for g in groups if len(g) > 2]
    # A two-record component is a cluster as it is, scored by its one edge.
    edge_score = dict(zip((np.minimum(da, db) * n + np.maximum(da, db)).tolist(), score[edges].tolist(), strict=True))
    clusters: list[tuple[list[int], float]] = [
        ([int(g.min()), int(g.max())], edge_score[int(g.min()) * n + int(g.max())]) for g in groups if len(g) == 2
    ]
    if big:
        ia, ib = _pairs_to_score(big, label, li.astype(np.int64), ri.astype(np.int64), da, db)
        s, cap = score_pairs(ia, ib)
        plausible = np.where((cap >= REVIEW) & (s >= IMPLAUSIBLE), s, np.nan)
        # The duplicate edges of each component, strongest first, and its scored pairs, grouped once:
        # each component takes its slice of them (not a search or a copy of all per component).
        edge_order = np.lexsort((-score[edges], label[da]))
        pair_order = np.argsort(label[ia], kind="stable")
        roots = label[[members[0] for members in big]]
        edge_from, edge_to = (np.searchsorted(label[da][edge_order], roots + k).tolist() for k in (0, 1))
        pair_from, pair_to = (np.searchsorted(label[ia][pair_order], roots + k).tolist() for k in (0, 1))
        ea, eb = da[edge_order].tolist(), db[edge_order].tolist()
        pa, pb, ps = ia[pair_order].tolist(), ib[pair_order].tolist(), plausible[pair_order].tolist()
        for e0, e1, p0, p1 in zip(edge_from, edge_to, pair_from, pair_to, strict=True):
            clusters.extend(_guarded_linkage(ea[e0:e1], eb[e0:e1], pa[p0:p1], pb[p0:p1], ps[p0:p1], floor))
    clusters.sort(key=lambda c: c[0][0])
    final_of = np.full(n, -1, dtype=np.int64)
    for number, (members, _) in enumerate(clusters):
        final_of[members] = number
    split = np.zeros(len(li), dtype=bool)
    split[edges] = (final_of[da] != final_of[db]) | (final_of[da] < 0)
    return clusters, split


def _guarded_linkage(
    ea: list[int], eb: list[int], pa: list[int], pb: list[int], pscore: list[float], floor: float,
) -> list[tuple[list[int], float]]:
    """Average linkage over the edges (ea, eb), strongest first, on the scored pairs (pa, pb, pscore;
    NaN: ruled out). Each group keeps, per neighbouring group, [sum of scores, pairs, any ruled out];
    a merge folds the smaller group's table into the larger's, so the total work is O(P log P)."""
    group: dict[int, int] = {}
    members: dict[int, list[int]] = {}
    nbr: dict[int, dict[int, list]] = {}
    for x in {*ea, *eb, *pa, *pb}:
        group[x] = x
        members[x] = [x]
        nbr[x] = {}
    for x, y, s in zip(pa, pb, pscore, strict=True):
        ruled = s != s  # NaN
        nbr[x][y] = nbr[y][x] = [0.0 if ruled else s, 1, ruled]  # one list, seen from both sides
    for x, y in zip(ea, eb, strict=True):
        gx, gy = group[x], group[y]
        if gx == gy:
            continue
        total, count, ruled = nbr[gx].get(gy, (0.0, 0, False))
        # No pair may be ruled out, and on average the two groups must still look alike.
        if ruled or (count and total / count < floor):
            continue
        big, small = (gx, gy) if len(members[gx]) >= len(members[gy]) else (gy, gx)
        for m in members[small]:
            group[m] = big
        members[big].extend(members.pop(small))
        big_nbr = nbr[big]
        big_nbr.pop(small, None)
        for other, stats in nbr.pop(small).items():
            if other == big:
                continue
            mine = big_nbr.get(other)
            if mine is None:
                big_nbr[other] = list(stats)
            else:
                mine[0] += stats[0]
                mine[1] += stats[1]
                mine[2] = mine[2] or stats[2]
            theirs = nbr[other]
            theirs.pop(small)
            theirs[big] = big_nbr[other]
    lowest: dict[int, float] = {}
    for x, y, s in zip(pa, pb, pscore, strict=True):
        g = group[x]
        if g == group[y]:
            lowest[g] = min(lowest.get(g, 1.0), 0.0 if s != s else s)
    return [(sorted(m), lowest.get(g, 0.0)) for g, m in members.items() if len(m) >= 2]
