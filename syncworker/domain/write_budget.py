"""How many remote writes a run may make today, and how long a queue of them takes to drain (pure, no I/O).

A tenant's day budget (XPM and Xero: 5,000 calls) is shared by reads, webhook pulls and writes. Writes take at
most what is left of the day above a reserve kept for reads (`Limits.write_reserve`), so a first sync that
needs more writes than a day holds never parks the tenant: it decides every pair, writes what today allows,
and leaves the rest pending; the following runs write them as each day's budget allows. A pending write is
not a row of its own: the pair keeps no base for the fields still to push, so every run re-decides them from
the current records (never a stale value, never twice).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WriteAllowance:
    """`calls_left`: write calls the tenant may still make today (None: no limit); `per_call`: records one
    write call takes (XPM 1, Xero 50); `calls_per_day`: write calls a whole day allows (None: unknown)."""

    calls_left: int | None
    per_call: int = 1
    calls_per_day: int | None = None

    def split(self, items: Sequence[T]) -> tuple[list[T], list[T]]:
        """(write now, keep for later): the first items that fit in today's allowance, in order."""
        if self.calls_left is None:
            return list(items), []
        room = max(self.calls_left, 0) * max(self.per_call, 1)
        return list(items[:room]), list(items[room:])

    def days_to_drain(self, pending: int) -> int | None:
        """Whole days the next runs need for `pending` records at a full day's allowance (None: unknown)."""
        if pending <= 0:
            return 0
        if not self.calls_per_day:
            return None
        return math.ceil(pending / (self.calls_per_day * max(self.per_call, 1)))


def pending_message(pending: int, allowance: WriteAllowance) -> str:
    """The run report's line for writes left for the following days."""
    days = allowance.days_to_drain(pending)
    about = f"about {days} day{'s' if days != 1 else ''}" if days is not None else "days unknown"
    return (f"{pending} push{'es' if pending != 1 else ''} pending (the day's write allowance is spent), "
            f"{about} at the current budget")
