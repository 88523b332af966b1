"""Tax and business identifiers: digits, checksums (ABN, TFN, NZ IRD) and masked values.

XPM returns tax numbers masked on read (e.g. ``******123``); a masked value carries only its
visible digits, so it can agree or disagree on those digits but never proves identity alone.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .text import JOIN, digits_only

_MASK = re.compile(r"[*xX•#]")
_SEPARATORS = str.maketrans("", "", " -./")
_SEPARATOR_BYTES = b" -./"
TAIL = 3  # visible digits compared when one side is masked


@dataclass(frozen=True, slots=True)
class Identifier:
    digits: str  # every visible digit, in order
    masked: bool  # some digits are hidden
    valid: bool  # passes a known checksum (False when masked or no scheme matched)

    @property
    def tail(self) -> str:
        return self.digits[-TAIL:] if len(self.digits) >= TAIL else ""

    @property
    def full(self) -> str:
        """The whole number when it is visible, else ''."""
        return "" if self.masked else self.digits


def abn_is_valid(digits: str) -> bool:
    """Australian Business Number: 11 digits, weighted sum (first digit minus one) divisible by 89."""
    if len(digits) != 11 or not digits.isdigit() or digits[0] == "0":
        return False
    weights = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
    return (_weighted(weights, digits) - 10) % 89 == 0  # first digit minus one: 10 * -1


def tfn_is_valid(digits: str) -> bool:
    """Australian Tax File Number: 8 or 9 digits, weighted sum divisible by 11."""
    if not digits.isdigit():
        return False
    if len(digits) == 9:
        weights: tuple[int, ...] = (1, 4, 3, 7, 5, 8, 6, 9, 10)
    elif len(digits) == 8:
        weights = (10, 7, 8, 4, 6, 3, 5, 1)
    else:
        return False
    return _weighted(weights, digits) % 11 == 0


def _weighted(weights: tuple[int, ...], digits: str) -> int:
    return sum(map(operator.mul, weights, map(int, digits)))


def ird_is_valid(digits: str) -> bool:
    """New Zealand IRD number: 8 or 9 digits, mod-11 check digit with a secondary weighting."""
    if not digits.isdigit() or len(digits) not in (8, 9):
        return False
    padded = digits.zfill(9)
    base, check = padded[:8], int(padded[8])
    if not 10_000_000 <= int(padded[:9]) <= 150_000_000:
        return False
    for weights in ((3, 2, 7, 6, 5, 4, 3, 2), (7, 4, 3, 2, 5, 2, 7, 6)):
        remainder = _weighted(weights, base) % 11
        expected = 0 if remainder == 0 else 11 - remainder
        if expected != 10:
            return expected == check
    return False


def parse_identifier(raw: str | None) -> Identifier | None:
    """Digits of a tax/business number, whether it is masked, and whether a checksum holds."""
    visible = visible_digits(raw)
    if visible is None:
        return None
    digits, masked = visible
    return Identifier(digits, masked, not masked and checksum_holds(digits))


def visible_digits(raw: str | None) -> tuple[str, bool] | None:
    """(every visible digit in order, whether some are masked); None when the value shows no digit."""
    if not raw:
        return None
    text = raw.strip()
    compact = text.translate(_SEPARATORS)
    if compact.isascii() and compact.isdigit():  # the common case: digits with spaces or dashes
        return compact, False
    digits = digits_only(text)
    return (digits, _MASK.search(text) is not None) if digits else None


def visible_digits_of_each(raws: Sequence[str | None]) -> list[tuple[str, bool] | None]:
    """visible_digits of each value. The separators of the ASCII values are dropped all at once, so
    a plain number costs one test; the others go one at a time."""
    texts = [raw or "" for raw in raws]
    joined = JOIN.join(texts)
    if not joined.isascii() or joined.count(JOIN) != len(texts) - 1:
        return list(map(visible_digits, raws))
    compacts = joined.encode().translate(None, _SEPARATOR_BYTES).decode().split(JOIN)
    return [(compact, False) if compact.isdigit() else compact and visible_digits(text) or None
            for text, compact in zip(texts, compacts, strict=True)]


def checksum_holds(digits: str) -> bool:
    """An ABN's checksum (11 digits), or a TFN's or an IRD number's (8 or 9)."""
    if len(digits) == 11:
        return abn_is_valid(digits)
    return len(digits) in (8, 9) and (tfn_is_valid(digits) or ird_is_valid(digits))


_TFN_WEIGHTS = {9: (1, 4, 3, 7, 5, 8, 6, 9, 10), 8: (10, 7, 8, 4, 6, 3, 5, 1)}
_IRD_WEIGHTS = ((3, 2, 7, 6, 5, 4, 3, 2), (7, 4, 3, 2, 5, 2, 7, 6))


def checksums_hold(numbers: Sequence[str]) -> np.ndarray:
    """[checksum_holds(d) for d in numbers] for strings of ASCII digits (visible_digits gives such),
    as array arithmetic on the digits of each length: a Python step per number cost more than the
    rest of reading an identifier."""
    valid = np.zeros(len(numbers), dtype=bool)
    lengths = np.fromiter(map(len, numbers), dtype=np.int64, count=len(numbers))
    for length in (8, 9, 11):
        at = np.flatnonzero(lengths == length)
        if not len(at):
            continue
        text = "".join([numbers[i] for i in at]).encode("ascii")
        digits = (np.frombuffer(text, dtype=np.uint8).reshape(-1, length) - ord("0")).astype(np.int64)
        if length == 11:
            valid[at] = (digits[:, 0] != 0) & ((digits @ (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19) - 10) % 89 == 0)
        else:
            valid[at] = (digits @ _TFN_WEIGHTS[length] % 11 == 0) | _irds_hold(digits)
    return valid


def _irds_hold(digits: np.ndarray) -> np.ndarray:
    """ird_is_valid of each row of 8 or 9 digits."""
    padded = np.pad(digits, ((0, 0), (9 - digits.shape[1], 0)))  # zfill(9)
    value = padded @ (10 ** np.arange(8, -1, -1))
    base, check = padded[:, :8], padded[:, 8]
    valid = np.zeros(len(digits), dtype=bool)
    undecided = (value >= 10_000_000) & (value <= 150_000_000)
    for weights in _IRD_WEIGHTS:
        remainder = base @ weights % 11
        expected = np.where(remainder == 0, 0, 11 - remainder)
        decided = undecided & (expected != 10)  # a check digit of 10: try the second weighting
        valid |= decided & (expected == check)
        undecided &= ~decided
    return valid
