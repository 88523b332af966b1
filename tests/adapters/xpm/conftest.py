"""Fixtures for XPM adapter unit tests: a client on the `responses` mock whose waits are recorded, not slept."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import responses
from xpm_fakes import BASE, NOW, Sleeps, StaticTokens

from adapters.ratelimit import Limits, RateLimiter
from adapters.xpm.client import XpmClient


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(sleeps: Sleeps) -> Callable[..., XpmClient]:
    def make(**kwargs: object) -> XpmClient:
        limiter = RateLimiter(Limits(), clock=sleeps.clock, sleep=sleeps, now=lambda: NOW)
        options: dict[str, object] = {
            "base_url": BASE, "limiter": limiter, "sleep": sleeps, "clock": lambda: NOW, "max_retries": 3,
            "backoff_initial": 0.5, "backoff_max": 8.0, "jitter": 0.25,
        }
        options.update(kwargs)
        return XpmClient(StaticTokens(), **options)  # type: ignore[arg-type]

    return make


@pytest.fixture
def client(make_client: Callable[..., XpmClient]) -> XpmClient:
    return make_client()
