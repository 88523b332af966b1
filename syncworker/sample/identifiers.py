"""Fake but checksum-valid AU/NZ business and tax identifiers, so validators accept them.

ABN: 11 digits, (first digit - 1) and weights 10,1,3,...,19, sum divisible by 89.
ACN: 9 digits, weights 8..1 on the first 8, check = (10 - sum % 10) % 10.
TFN: 9 digits, weights 1,4,3,7,5,8,6,9,10, sum divisible by 11.
IRD (NZ): 8 digits + check, weights 3,2,7,6,5,4,3,2 (secondary 7,4,3,2,5,2,7,6), mod 11.
NZBN: 13-digit GS1 number starting 94290, GS1 mod-10 check digit.
"""

from __future__ import annotations

import random

_ABN_WEIGHTS = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
_TFN_WEIGHTS = (1, 4, 3, 7, 5, 8, 6, 9, 10)
_IRD_PRIMARY = (3, 2, 7, 6, 5, 4, 3, 2)
_IRD_SECONDARY = (7, 4, 3, 2, 5, 2, 7, 6)


def _digits(rng: random.Random, n: int) -> list[int]:
    return [rng.randrange(10) for _ in range(n)]


def abn_is_valid(abn: str) -> bool:
    d = [int(c) for c in abn if c.isdigit()]
    if len(d) != 11 or d[0] == 0:
        return False
    d[0] -= 1
    return sum(w * x for w, x in zip(_ABN_WEIGHTS, d, strict=True)) % 89 == 0


def make_abn(rng: random.Random, tail: str | None = None) -> str:
    """An ABN; `tail` (9 digits, e.g. an ACN) makes it the company's ABN, as for real companies."""
    tail_digits = [int(c) for c in tail] if tail else _digits(rng, 9)
    rest = sum(w * x for w, x in zip(_ABN_WEIGHTS[2:], tail_digits, strict=True))
    # (p1 - 1) * 10 + p2 takes every value 0..89, so exactly one prefix per residue (or two for 0).
    for lead in range(90):
        if (lead + rest) % 89 == 0:
            p1, p2 = lead // 10 + 1, lead % 10
            return "".join(map(str, [p1, p2, *tail_digits]))
    raise AssertionError("unreachable")


def make_acn(rng: random.Random) -> str:
    d = _digits(rng, 8)
    check = (10 - sum(w * x for w, x in zip(range(8, 0, -1), d, strict=True)) % 10) % 10
    return "".join(map(str, [*d, check]))


def tfn_is_valid(tfn: str) -> bool:
    d = [int(c) for c in tfn if c.isdigit()]
    return len(d) == 9 and sum(w * x for w, x in zip(_TFN_WEIGHTS, d, strict=True)) % 11 == 0


def make_tfn(rng: random.Random) -> str:
    while True:
        d = [rng.randrange(1, 10), *_digits(rng, 7)]
        s = sum(w * x for w, x in zip(_TFN_WEIGHTS, d, strict=False))
        check = s % 11  # 10 * c ≡ -s (mod 11) and 10 ≡ -1, so c ≡ s
        if check < 10:
            return "".join(map(str, [*d, check]))


def ird_is_valid(ird: str) -> bool:
    d = [int(c) for c in ird if c.isdigit()]
    if len(d) not in (8, 9):
        return False
    base, check = ([0] * (9 - len(d)) + d)[:8], d[-1]
    return _ird_check(base) == check


def _ird_check(base: list[int]) -> int | None:
    for weights in (_IRD_PRIMARY, _IRD_SECONDARY):
        rem = sum(w * x for w, x in zip(weights, base, strict=True)) % 11
        check = 0 if rem == 0 else 11 - rem
        if check < 10:
            return check
    return None


def make_ird(rng: random.Random) -> str:
    while True:
        base = [int(c) for c in f"{rng.randrange(1_000_000, 15_000_000):08d}"]  # number = base + check digit
        check = _ird_check(base)
        if check is not None:
            return "".join(map(str, [*base, check])).lstrip("0")


def make_nzbn(rng: random.Random) -> str:
    d = [9, 4, 2, 9, 0, *_digits(rng, 7)]
    total = sum(x * (3 if i % 2 else 1) for i, x in enumerate(d))
    return "".join(map(str, [*d, (10 - total % 10) % 10]))


def format_abn(abn: str) -> str:
    return f"{abn[:2]} {abn[2:5]} {abn[5:8]} {abn[8:]}"


def format_tfn(tfn: str) -> str:
    return f"{tfn[:3]} {tfn[3:6]} {tfn[6:]}"
