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
calls whose path contains that text, identity endpoints included. `rate` faults fire at random with the
given probability, from a seeded generator, for soak runs.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

FAULT_KINDS: tuple[str, ...] = ("minute_429", "day_429", "500", "slow", "reset", "malformed_xml", "status_error", "revoked")


@dataclass(slots=True)
class Fault:
    kind: str
    remaining: int
    path_contains: str | None = None
    delay: float | None = None
    retry_after: int | None = None

    def matches(self, path: str, is_identity: bool) -> bool:
        if self.path_contains is None:
            return not is_identity
        return self.path_contains in path


class FaultPlan:
    def __init__(self, on_revoke: Callable[[], object], *, seed: int = 0) -> None:
        self._on_revoke = on_revoke
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self._random: tuple[float, tuple[str, ...]] | None = None
        self._rng = random.Random(seed)
        self.fired: Counter[str] = Counter()

    def inject(self, kind: str, times: int = 1, path_contains: str | None = None, *,
               delay: float | None = None, retry_after: int | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        if kind == "revoked":
            self._on_revoke()
            with self._lock:
                self.fired["revoked"] += 1
            return
        with self._lock:
            self._queue.append(Fault(kind, times, path_contains, delay, retry_after))

    def random(self, rate: float, kinds: tuple[str, ...] = ("500", "reset", "slow", "minute_429")) -> None:
        """Fire one of `kinds` on each API call with probability `rate` (0 turns it off)."""
        bad = [k for k in kinds if k not in FAULT_KINDS or k == "revoked"]
        if bad or not 0 <= rate <= 1:
            raise ValueError(f"bad random fault setting: rate={rate} kinds={bad or kinds}")
        with self._lock:
            self._random = (rate, tuple(kinds)) if rate > 0 else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._random = None

    def pending(self) -> list[dict[str, object]]:
        with self._lock:
            return [{"kind": f.kind, "remaining": f.remaining, "path_contains": f.path_contains} for f in self._queue]

    def take(self, path: str, *, is_identity: bool = False) -> Fault | None:
        """The fault to apply to this request, if any (consumes one of its `times`)."""
        with self._lock:
            for fault in self._queue:
                if fault.matches(path, is_identity):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._queue.remove(fault)
                    self.fired[fault.kind] += 1
                    return fault
            if self._random and not is_identity:
                rate, kinds = self._random
                if self._rng.random() < rate:
                    kind = self._rng.choice(kinds)
                    self.fired[kind] += 1
                    return Fault(kind, 0)
            return None
