"""Candidate generation: several blocking keys per record, joined by key with NumPy.

A pair is a candidate when the two records share at least one key. Keys whose block would yield
more than `max_block_pairs` pairs are skipped (they carry too little information to be worth the
cost); the other keys still reach those records.
"""

from __future__ import annotations

import jellyfish
import numpy as np

from .features import Table

# Organisation words too common to block on.
_ORG_STOPWORDS = frozenset(
    """family trust holdings holding investments investment group services service super fund
    nominees enterprises australia nz new zealand the of and consulting management properties property
    trading company partners partnership no unit discretionary pty ltd co inc""".split()
)


def _soundex(text: str) -> str:
    return jellyfish.soundex(text) if text and text[0].isalpha() else text[:4]


def record_keys(t: Table, i: int) -> list[str]:
    keys: list[str] = []
    if t.email[i] >= 0:
        keys.append(f"m{t.email[i]}")
    if t.phone1[i] >= 0:
        keys.append(f"p{t.phone1[i]}")
    if t.phone2[i] >= 0:
        keys.append(f"p{t.phone2[i]}")
    if t.tax_full[i] >= 0:
        keys.append(f"t{t.tax_full[i]}")
    if t.bizno[i] >= 0:
        keys.append(f"x{t.bizno[i]}")
    name = t.name_key[i]
    if t.tax_tail[i] >= 0 and name:
        keys.append(f"u{t.tax_tail[i]}{name[:1]}")
    postcode = t.postcode[i]
    street = t.street[i].split()
    if postcode >= 0 and street:
        # Same street address: households, and records whose names are too damaged for name keys.
        keys.append(f"s{postcode}{' '.join(street[:2])}")
    if t.is_person[i]:
        family, given, dob = t.family[i], t.given[i], t.dob[i]
        canon = name.partition(" ")[0] if given else ""
        if family:
            fs = _soundex(family)
            keys.append(f"a{fs}{given[:1]}")
            if t.given2[i]:
                keys.append(f"a{fs}{t.given2[i][:1]}")
            if postcode >= 0:
                keys.append(f"d{postcode}{family[:3]}")
        if given:
            # The same key with the names swapped meets records whose given/family are swapped.
            keys.append(f"a{_soundex(given)}{family[:1]}")
            if postcode >= 0:
                keys.append(f"e{postcode}{canon[:3]}")
            if dob:
                keys.append(f"b{_soundex(canon)}{dob}")
        if dob:
            keys.append(f"c{dob}")
        if t.family2[i]:
            keys.append(f"a{_soundex(t.family2[i])}{t.given2[i][:1]}")
        for token in t.alt[i].split()[:2]:
            if token not in _ORG_STOPWORDS and len(token) > 1:
                keys.append(f"o{token}")
    else:
        tokens = [tok for tok in name.split() if tok not in _ORG_STOPWORDS and len(tok) > 1]
        tokens += [tok for tok in t.alt[i].split() if tok not in _ORG_STOPWORDS and len(tok) > 1]
        for token in tokens[:4]:
            keys.append(f"o{token}")
        compact = name.replace(" ", "")
        if compact:
            keys.append(f"q{compact[:6]}")
        if postcode >= 0 and tokens:
            keys.append(f"r{postcode}{tokens[0][:2]}")
    return keys


def key_arrays(t: Table, key_codes: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(record index, key code) for every key of every record."""
    recs: list[int] = []
    codes: list[int] = []
    for i in range(len(t)):
        for key in record_keys(t, i):
            code = key_codes.get(key)
            if code is None:
                code = key_codes[key] = len(key_codes)
            recs.append(i)
            codes.append(code)
    return np.asarray(recs, dtype=np.int64), np.asarray(codes, dtype=np.int64)


def _groups(recs: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    uniq, start, count = np.unique(sorted_codes, return_index=True, return_counts=True)
    return uniq, start, count, recs[order]


def _expand(start_a: np.ndarray, count_a: np.ndarray, start_b: np.ndarray, count_b: np.ndarray):
    """Index pairs of the cross product of each (block in a, block in b), without Python loops."""
    sizes = count_a * count_b
    total = int(sizes.sum())
    if total == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    block = np.repeat(np.arange(len(sizes)), sizes)
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    width = count_b[block]
    return start_a[block] + offset // width, start_b[block] + offset % width


def link_candidates(left: Table, right: Table, max_block_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique (left index, right index) candidate pairs."""
    key_codes: dict[str, int] = {}
    ul, sl, cl, recs_l = _groups(*key_arrays(left, key_codes))
    ur, sr, cr, recs_r = _groups(*key_arrays(right, key_codes))
    _, il, ir = np.intersect1d(ul, ur, assume_unique=True, return_indices=True)
    keep = cl[il] * cr[ir] <= max_block_pairs
    il, ir = il[keep], ir[keep]
    a, b = _expand(sl[il], cl[il], sr[ir], cr[ir])
    pair = np.unique(recs_l[a] * len(right) + recs_r[b])
    return pair // len(right), pair % len(right)


def dedupe_candidates(table: Table, max_block_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique (i, j), i < j, candidate pairs within one table."""
    u, s, c, recs = _groups(*key_arrays(table, {}))
    keep = (c > 1) & (c * (c - 1) // 2 <= max_block_pairs)
    a, b = _expand(s[keep], c[keep], s[keep], c[keep])
    ra, rb = recs[a], recs[b]
    lower = ra < rb
    pair = np.unique(ra[lower] * len(table) + rb[lower])
    return pair // len(table), pair % len(table)
