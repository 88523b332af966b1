"""Fault injection: what can go wrong between a client and Xero, on demand.

Kinds:
- `minute_429`, `day_429`: a 429 with X-Rate-Limit-Problem minute/day and Retry-After (defaults: 1 s for
  minute, the seconds left in the tenant's day window for day).
- `500`: HTTP 500 (an application exception).
- `slow`: the response is delayed by `delay` seconds (the simulator's `slow_delay` by default), holding its
  concurrency slot, then served normally.
- `reset`: the socket is closed without a response. On API paths the request is dropped unprocessed; on the
  token endpoint (`path_contains="/connect/token"`) it is processed first, so the refresh token rotates
  server-side and the response is lost — the case Xero's 30-minute grace period exists for.
- `malformed_xml`: HTTP 200 with the real response cut short (unparseable XML).
- `status_error`: HTTP 200 carrying `<Status>ERROR</Status><ErrorDescription>`.
- `revoked`: the user disconnects the app: every live grant is revoked at once (API calls 401, refresh
  `invalid_grant`). `times` and `path_contains` do not apply.

A fault without `path_contains` hits the next API calls (never the identity endpoints); with it, the next
calls whose path contains that text, identity endpoints included. Queueing, matching and random faults
(`random(rate, kinds)`) are the shared `simulators.faults.FaultPlan`'s.
"""

from __future__ import annotations

from collections.abc import Callable

from simulators.faults import Fault
from simulators.faults import FaultPlan as _SharedFaultPlan

FAULT_KINDS: tuple[str, ...] = ("minute_429", "day_429", "500", "slow", "reset", "malformed_xml", "status_error", "revoked")

__all__ = ["FAULT_KINDS", "Fault", "FaultPlan"]


class FaultPlan(_SharedFaultPlan):
    """XPM's kinds; `revoked` calls `on_revoke` at once instead of being queued."""

    def __init__(self, on_revoke: Callable[[], object], *, seed: int = 0) -> None:
        super().__init__(FAULT_KINDS, immediate={"revoked": on_revoke}, seed=seed)
