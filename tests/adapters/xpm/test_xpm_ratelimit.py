"""The per-tenant client-side limiter (adapters/ratelimit.py), on a fake clock."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from xpm_fakes import Sleeps

from adapters.errors import DailyLimitReached
from adapters.ratelimit import Limits, RateLimiter, shared_limiter

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def _limiter(sleeps: Sleeps, **limits: float) -> RateLimiter:
    return RateLimiter(Limits(**limits), clock=sleeps.clock, sleep=sleeps, now=lambda: NOW)  # type: ignore[arg-type]


def _call(limiter: RateLimiter) -> None:
    with limiter.slot():
        pass


def test_sixty_first_call_in_a_minute_waits_for_the_window() -> None:
    sleeps = Sleeps()
    limiter = _limiter(sleeps)
    for _ in range(60):
        _call(limiter)
    assert not sleeps
    _call(limiter)
    assert sleeps == [61.0]  # 60 s window + 1 s margin for the server counting arrivals, not departures


def test_calls_spread_over_time_never_exceed_sixty_in_any_window() -> None:
    sleeps = Sleeps()
    limiter = _limiter(sleeps, per_minute=10, margin=0.0)
    stamps = []
    for _ in range(35):
        _call(limiter)
        stamps.append(sleeps.now)
        sleeps.now += 1.7  # work between calls
    for t in stamps:
        assert sum(1 for s in stamps if t <= s < t + 60) <= 10


def test_day_budget_spent_raises_with_resume_time() -> None:
    sleeps = Sleeps()
    limiter = _limiter(sleeps, per_day=3, per_minute=100)
    for _ in range(3):
        _call(limiter)
    with pytest.raises(DailyLimitReached) as info:
        _call(limiter)
    assert info.value.resume_at == NOW + timedelta(days=1)


def test_server_headers_make_the_windows_stricter_only() -> None:
    sleeps = Sleeps()
    limiter = _limiter(sleeps, per_day=100)
    _call(limiter)
    limiter.observe({"X-MinLimit-Remaining": "59", "X-DayLimit-Remaining": "2"})  # others used 97 today
    _call(limiter)
    _call(limiter)
    with pytest.raises(DailyLimitReached):
        _call(limiter)
    limiter.observe({"X-MinLimit-Remaining": "garbage"})  # ignored, no crash


def test_pause_holds_every_caller() -> None:
    sleeps = Sleeps()
    limiter = _limiter(sleeps)
    limiter.pause(12)
    _call(limiter)
    assert sleeps == [12.0]


def test_parked_tenant_fails_fast_until_resume() -> None:
    sleeps = Sleeps()
    current = [NOW]
    limiter = RateLimiter(clock=sleeps.clock, sleep=sleeps, now=lambda: current[0])
    limiter.park_until_day_reset(NOW + timedelta(hours=3))
    with pytest.raises(DailyLimitReached):
        _call(limiter)
    current[0] = NOW + timedelta(hours=3, seconds=1)
    _call(limiter)


def test_at_most_five_in_flight() -> None:
    limiter = RateLimiter(Limits(concurrent=5, per_minute=1000))
    in_flight, peak, lock = [0], [0], threading.Lock()

    def work() -> None:
        with limiter.slot():
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
            time.sleep(0.02)
            with lock:
                in_flight[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 5 and limiter.max_in_flight == 5


def test_shared_limiter_is_one_per_key() -> None:
    assert shared_limiter("xero-tenant:t1") is shared_limiter("xero-tenant:t1")
    assert shared_limiter("xero-tenant:t1") is not shared_limiter("xero-tenant:t2")
