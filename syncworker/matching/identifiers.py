"""Tax and business identifiers: digits, checksums (ABN, TFN, NZ IRD) and masked values.

XPM returns tax numbers masked on read (e.g. ``******123``); a masked value carries only its
visible digits, so it can agree or disagree on those digits but never proves identity alone.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from .text import digits_only

_MASK = re.compile(r"[*xX•#]")
_SEPARATORS = str.maketrans("", "", " -./")
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
    if not raw:
        return None
    text = raw.strip()
    compact = text.translate(_SEPARATORS)
    if compact.isascii() and compact.isdigit():  # the common case: digits with spaces or dashes
        masked, digits = False, compact
    else:
        masked = _MASK.search(text) is not None
        digits = digits_only(text)
    if not digits:
        return None
    valid = not masked and (
        abn_is_valid(digits) if len(digits) == 11 else len(digits) in (8, 9) and (tfn_is_valid(digits) or ird_is_valid(digits))
    )
    return Identifier(digits, masked, valid)
