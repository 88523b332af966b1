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
narrows them to matching paths. Queueing, matching and random faults are the shared
`simulators.faults.FaultPlan`'s.
"""

from __future__ import annotations

from simulators.faults import Fault
from simulators.faults import FaultPlan as _SharedFaultPlan

FAULT_KINDS: tuple[str, ...] = ("minute_429", "day_429", "500", "slow", "reset", "malformed_json",
                                "lost_response")

__all__ = ["FAULT_KINDS", "Fault", "FaultPlan"]


class FaultPlan(_SharedFaultPlan):
    def __init__(self) -> None:
        super().__init__(FAULT_KINDS)

    def pending(self) -> list[tuple[str, int]]:  # type: ignore[override]
        """(kind, remaining) pairs: the shape this simulator's /_sim/faults has always answered with."""
        with self._lock:
            return [(f.kind, f.remaining) for f in self._queue]
