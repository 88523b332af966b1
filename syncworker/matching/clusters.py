"""Duplicate pairs -> clusters: connected components, guarded against chaining.

A component of more than two records is rebuilt by merging its strongest edges first, refusing
any merge that would put together two records that are ruled out (a rule such as different given
name and birth date, or a near-zero score) or two groups that on average no longer look alike. So one
record resembling two unrelated clients cannot bridge them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .compare import REVIEW

IMPLAUSIBLE = 0.01  # a pair scoring below this inside a cluster is ruled out
ScoreFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _find(parent: list[int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def build_clusters(
    n: int, li: np.ndarray, ri: np.ndarray, score: np.ndarray, is_dup: np.ndarray,
    score_pairs: ScoreFn, floor: float,
) -> tuple[list[tuple[list[int], float]], np.ndarray]:
    """Clusters as (member indices, lowest pair score), and which duplicate edges were split off."""
    edges = np.flatnonzero(is_dup)
    parent = list(range(n))
    for k in edges.tolist():
        ra, rb = _find(parent, int(li[k])), _find(parent, int(ri[k]))
        if ra != rb:
            parent[rb] = ra
    components: dict[int, list[int]] = {}
    for node in {int(x) for x in li[edges]} | {int(x) for x in ri[edges]}:
        components.setdefault(_find(parent, node), []).append(node)

    final_of: dict[int, int] = {}
    clusters: list[tuple[list[int], float]] = []
    big = [sorted(m) for m in components.values() if len(m) > 2]
    small = [sorted(m) for m in components.values() if len(m) == 2]
    edge_score = {(int(li[k]), int(ri[k])): float(score[k]) for k in edges.tolist()}
    for members in small:
        clusters.append((members, edge_score[(members[0], members[1])]))
    if big:
        ia, ib = [], []
        for members in big:
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    ia.append(members[x])
                    ib.append(members[y])
        pair_score, pair_cap = score_pairs(np.asarray(ia), np.asarray(ib))
        plausible = {
            (a, b): (float(s) if c >= REVIEW and s >= IMPLAUSIBLE else None)
            for a, b, s, c in zip(ia, ib, pair_score.tolist(), pair_cap.tolist(), strict=True)
        }
        for members in big:
            clusters.extend(_guarded_linkage(members, edge_score, plausible, floor))
    clusters.sort(key=lambda c: c[0][0])
    for number, (members, _) in enumerate(clusters):
        for m in members:
            final_of[m] = number
    split = np.zeros(len(li), dtype=bool)
    for k in edges.tolist():
        a, b = int(li[k]), int(ri[k])
        split[k] = final_of.get(a, -1) != final_of.get(b, -2)
    return clusters, split


def _guarded_linkage(
    members: list[int], edge_score: dict[tuple[int, int], float],
    plausible: dict[tuple[int, int], float | None], floor: float,
) -> list[tuple[list[int], float]]:
    member_set = set(members)
    inner = sorted(
        ((s, a, b) for (a, b), s in edge_score.items() if a in member_set and b in member_set), reverse=True
    )
    group = {m: [m] for m in members}
    for _, a, b in inner:
        ga, gb = group[a], group[b]
        if ga is gb:
            continue
        cross = [plausible.get((min(x, y), max(x, y))) for x in ga for y in gb]
        # No pair may be ruled out, and on average the two groups must still look alike.
        if all(c is not None for c in cross) and sum(cross) / len(cross) >= floor:  # type: ignore[arg-type]
            merged = ga + gb
            for m in merged:
                group[m] = merged
    out: list[tuple[list[int], float]] = []
    seen: set[int] = set()
    for m in members:
        g = group[m]
        if id(g) in seen or len(g) < 2:
            continue
        seen.add(id(g))
        g = sorted(g)
        lowest = min(plausible[(x, y)] or 0.0 for i, x in enumerate(g) for y in g[i + 1 :])
        out.append((g, lowest))
    return out
