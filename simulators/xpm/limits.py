"""Xero's per-tenant API limits (reference §2.3): concurrent calls, calls per rolling minute, calls per
day (a fixed window that resets at a per-tenant time), plus the app-wide minute limit across tenants.

Every API response carries X-DayLimit-Remaining, X-MinLimit-Remaining and X-AppMinLimit-Remaining. A call
over a limit gets 429 with X-Rate-Limit-Problem (`day`, `minute`, `appminute` or `concurrent`) and, for the
time-window limits, Retry-After in whole seconds. Refused calls do not count against the windows.
Nothing here is XPM-specific, so a Xero-accounting simulator can reuse it.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field

from simulators.xero_identity import SimClock


@dataclass(frozen=True, slots=True)
class Limits:
    concurrent: int = 5
    per_minute: int = 60
    per_day: int = 5000
    app_per_minute: int = 10_000


@dataclass(slots=True)
class Admission:
    """The limiter's answer: `problem` None means admitted (call `release` when done)."""

    headers: dict[str, str]
    problem: str | None = None
    retry_after: int | None = None


@dataclass(slots=True)
class _TenantWindow:
    day_start: float
    day_count: int = 0
    minute: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    peak: int = 0


class RateLimiter:
    def __init__(self, clock: SimClock, limits: Limits) -> None:
        self.clock = clock
        self.limits = limits
        self._lock = threading.Lock()
        self._tenants: dict[str, _TenantWindow] = {}
        self._app_minute: deque[float] = deque()
        self._day_origin = clock.time()

    def acquire(self, tenant: str) -> Admission:
        with self._lock:
            now = self.clock.time()
            w = self._window(tenant, now)
            lim = self.limits
            if w.day_count >= lim.per_day:
                return self._refuse(w, now, "day", math.ceil(w.day_start + 86400 - now))
            if len(w.minute) >= lim.per_minute:
                return self._refuse(w, now, "minute", math.ceil(w.minute[0] + 60 - now))
            if len(self._app_minute) >= lim.app_per_minute:
                return self._refuse(w, now, "appminute", math.ceil(self._app_minute[0] + 60 - now))
            if w.in_flight >= lim.concurrent:
                return self._refuse(w, now, "concurrent", None)
            w.day_count += 1
            w.minute.append(now)
            self._app_minute.append(now)
            w.in_flight += 1
            w.peak = max(w.peak, w.in_flight)
            return Admission(self._headers(w))

    def release(self, tenant: str) -> None:
        with self._lock:
            w = self._tenants.get(tenant)
            if w is not None and w.in_flight > 0:
                w.in_flight -= 1

    def headers(self, tenant: str) -> dict[str, str]:
        with self._lock:
            return self._headers(self._window(tenant, self.clock.time()))

    def peak_concurrency(self) -> int:
        with self._lock:
            return max((w.peak for w in self._tenants.values()), default=0)

    def day_resets_at(self, tenant: str) -> float:
        with self._lock:
            return self._window(tenant, self.clock.time()).day_start + 86400

    def reset(self) -> None:
        """Forget all windows (admin endpoint, between demo runs). In-flight counts are kept."""
        with self._lock:
            for w in self._tenants.values():
                w.day_count = 0
                w.minute.clear()
                w.peak = w.in_flight
            self._app_minute.clear()

    # ---- internals ----
    def _window(self, tenant: str, now: float) -> _TenantWindow:
        w = self._tenants.get(tenant)
        if w is None:
            w = self._tenants[tenant] = _TenantWindow(day_start=self._day_origin)
        while now >= w.day_start + 86400:
            w.day_start += 86400
            w.day_count = 0
        while w.minute and w.minute[0] <= now - 60:
            w.minute.popleft()
        while self._app_minute and self._app_minute[0] <= now - 60:
            self._app_minute.popleft()
        return w

    def _headers(self, w: _TenantWindow) -> dict[str, str]:
        lim = self.limits
        return {
            "X-DayLimit-Remaining": str(max(lim.per_day - w.day_count, 0)),
            "X-MinLimit-Remaining": str(max(lim.per_minute - len(w.minute), 0)),
            "X-AppMinLimit-Remaining": str(max(lim.app_per_minute - len(self._app_minute), 0)),
        }

    def _refuse(self, w: _TenantWindow, now: float, problem: str, retry_after: int | None) -> Admission:
        headers = self._headers(w)
        headers["X-Rate-Limit-Problem"] = problem
        if retry_after is not None:
            retry_after = max(retry_after, 1)
            headers["Retry-After"] = str(retry_after)
        return Admission(headers, problem, retry_after)
