"""A client-side, per-tenant call limiter for the Xero family of APIs (XPM, Accounting, ...).

Xero limits every tenant connection to 5 concurrent calls, 60 calls a minute and 5,000 a day
(https://developer.xero.com/faq/limits). Going over costs a 429 and, for the day limit, the rest of the
day. The limiter keeps us under all three before we send, so a 429 is rare:

- concurrency: at most `concurrent` calls in flight (a slot is held for the whole request);
- minute: a sliding window of send times, slightly longer than 60 s (`margin`) because the server counts
  a call when it arrives, a little after we stamped it;
- day: a 24-hour sliding window of our own calls. Xero's day window is fixed and resets at a per-tenant
  time we cannot see, so the window is only our estimate; `X-DayLimit-Remaining` corrects it.

Other processes may spend the same tenant's budget, so every response's `X-MinLimit-Remaining` and
`X-DayLimit-Remaining` headers are fed back through `observe()`: if the server says fewer calls remain
than we think, phantom calls are added to our windows. A minute 429 pauses every caller (`pause()`);
a day 429 parks the tenant (`park_until_day_reset()`): later calls raise `DailyLimitReached` at once
instead of spending calls on more 429s.

Time is injected (`clock` = monotonic seconds, `now` = wall-clock UTC, `sleep`) so tests run instantly.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from adapters.errors import DailyLimitReached


@dataclass(frozen=True, slots=True)
class Limits:
    concurrent: int = 5
    per_minute: int = 60
    per_day: int = 5_000
    # Calls a day that writes leave to reads and webhook pulls: a sync writes at most what is left of the day
    # above this (`ClientSystem.write_calls_left`) and queues the rest for the following days.
    write_reserve: int = 500
    minute_window: float = 60.0
    day_window: float = 86_400.0
    margin: float = 1.0  # seconds added to the minute window


XERO_TENANT_LIMITS = Limits()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RateLimiter:
    """One tenant's budget. Thread-safe; share one instance between every client of the same tenant
    in a process (see `shared_limiter`)."""

    def __init__(
        self,
        limits: Limits = XERO_TENANT_LIMITS,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits
        self._clock, self._now, self._sleep = clock, now, sleep
        self._cond = threading.Condition()
        self._minute: deque[float] = deque()
        self._day: deque[float] = deque()
        self._in_flight = 0
        self._paused_until = 0.0
        self._day_resume_at: datetime | None = None
        self.waited_seconds = 0.0  # total time callers spent waiting for budget (for reports)
        self.max_in_flight = 0

    # --- the gate around every call ---
    @contextmanager
    def slot(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def acquire(self) -> None:
        while True:
            with self._cond:
                now = self._clock()
                self._check_day_parked()
                self._expire(now)
                wait = self._wait_needed(now)
                if wait <= 0:
                    if self._in_flight >= self.limits.concurrent:
                        self._cond.wait(timeout=1.0)
                        continue
                    self._minute.append(now)
                    self._day.append(now)
                    self._in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self._in_flight)
                    return
            self.waited_seconds += wait
            self._sleep(wait)

    def release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify()

    # --- feedback from the server ---
    def observe(self, headers: Mapping[str, str]) -> None:
        """Align our windows with the remaining counts the server reports."""
        minute_left = _int_header(headers, "X-MinLimit-Remaining")
        day_left = _int_header(headers, "X-DayLimit-Remaining")
        with self._cond:
            now = self._clock()
            self._expire(now)
            if minute_left is not None:
                self._pad(self._minute, self.limits.per_minute - minute_left, now)
            if day_left is not None:
                self._pad(self._day, self.limits.per_day - day_left, now)

    def pause(self, seconds: float) -> None:
        """A minute 429 said wait `seconds`: hold every caller of this tenant, not just the one that hit it."""
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def park_until_day_reset(self, resume_at: datetime) -> None:
        with self._cond:
            self._day_resume_at = resume_at

    @property
    def day_resume_at(self) -> datetime | None:
        return self._day_resume_at

    # --- internals (call with the lock held) ---
    def _check_day_parked(self) -> None:
        if self._day_resume_at is not None:
            if self._now() < self._day_resume_at:
                raise DailyLimitReached("daily call limit reached for this tenant", resume_at=self._day_resume_at)
            self._day_resume_at = None

    def _expire(self, now: float) -> None:
        minute_span = self.limits.minute_window + self.limits.margin
        while self._minute and self._minute[0] <= now - minute_span:
            self._minute.popleft()
        while self._day and self._day[0] <= now - self.limits.day_window:
            self._day.popleft()

    def _wait_needed(self, now: float) -> float:
        wait = self._paused_until - now
        if len(self._day) >= self.limits.per_day:
            resume_at = self._now() + timedelta(seconds=self._day[0] + self.limits.day_window - now)
            raise DailyLimitReached("daily call budget for this tenant is spent", resume_at=resume_at)
        if len(self._minute) >= self.limits.per_minute:
            oldest = self._minute[len(self._minute) - self.limits.per_minute]
            wait = max(wait, oldest + self.limits.minute_window + self.limits.margin - now)
        return wait

    @staticmethod
    def _pad(window: deque[float], used_per_server: int, now: float) -> None:
        # Only ever make the window stricter: the server knows about calls from other processes.
        missing = used_per_server - len(window)
        window.extend([now] * max(0, missing))


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return max(0, int(str(value).strip()))
    except ValueError:
        return None


_shared: dict[str, RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(key: str, limits: Limits = XERO_TENANT_LIMITS) -> RateLimiter:
    """The process-wide limiter for one tenant connection (key e.g. "xpm:<Xero-Tenant-Id>"), so every
    client object for that tenant draws on the same budget."""
    with _shared_lock:
        limiter = _shared.get(key)
        if limiter is None:
            limiter = _shared[key] = RateLimiter(limits)
        return limiter


def reset_shared_limiters() -> None:
    """Forget every process-wide limiter. For tests, where each test talks to a fresh simulator whose
    server-side budget starts full; in production a process keeps its limiters for its whole life."""
    with _shared_lock:
        _shared.clear()
