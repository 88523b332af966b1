"""Fault injection for the Xero accounting simulator, on demand.

Kinds (names shared with the XPM simulator where the fault is the same):
- `minute_429`, `day_429`: 429 with X-Rate-Limit-Problem minute/day and Retry-After (minute: `retry_after`
  or 1 s; day: `retry_after` or the seconds left in the tenant's day window).
- `500`: HTTP 500 with Xero's ApplicationException body.
- `slow`: the response is delayed by `delay` seconds (default: the simulator's `slow_delay`) while holding
  its concurrency slot, then served normally.
- `reset`: the socket is closed without a response; the request is not processed.
- `malformed_json`: HTTP 200 whose JSON body is cut short.
- `lost_response`: the request IS processed (a write is stored, a webhook fires), then the socket is reset:
  the client cannot tell whether its write happened (what Idempotency-Key exists for).

Faults hit the next `times` API calls (never identity endpoints or webhook deliveries); `path_contains`
narrows them to matching paths.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

FAULT_KINDS: tuple[str, ...] = ("minute_429", "day_429", "500", "slow", "reset", "malformed_json",
                                "lost_response")


@dataclass(slots=True)
class Fault:
    kind: str
    remaining: int
    path_contains: str | None = None
    delay: float | None = None
    retry_after: int | None = None


class FaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self.fired: Counter[str] = Counter()

    def inject(self, kind: str, times: int = 1, path_contains: str | None = None, *,
               delay: float | None = None, retry_after: int | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._queue.append(Fault(kind, times, path_contains, delay, retry_after))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def pending(self) -> list[tuple[str, int]]:
        with self._lock:
            return [(f.kind, f.remaining) for f in self._queue]

    def take(self, path: str) -> Fault | None:
        """The fault for this API request, if any (consumes one of its `times`)."""
        with self._lock:
            for fault in self._queue:
                if fault.path_contains is None or fault.path_contains in path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._queue.remove(fault)
                    self.fired[fault.kind] += 1
                    return fault
            return None
