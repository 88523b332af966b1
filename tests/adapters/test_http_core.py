"""The shared Xero-platform HTTP core, through a minimal JSON subclass: the decisions every system inherits
(second 401, 403, day threshold, stat names, idempotency of writes). Waits are recorded, not slept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses

from adapters.errors import (
    DailyLimitReached,
    MalformedResponse,
    NotFound,
    ReconnectRequired,
    RemoteRejected,
    TransientError,
)
from adapters.http_core import DAY_RETRY_AFTER_THRESHOLD, STAT_NAMES, CallStats, RetryPolicy, XeroPlatformHttp
from adapters.ratelimit import Limits, RateLimiter

BASE = "https://api.test/v1/"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


class Tokens:
    remote_tenant_id = "tenant-1"

    def __init__(self) -> None:
        self.token, self.refreshes = "t1", 0

    def access_token(self) -> str:
        return self.token

    def force_refresh(self, rejected_access_token: str | None = None) -> str:
        self.refreshes += 1
        self.token = f"t{self.refreshes + 1}"
        return self.token


class JsonHttp(XeroPlatformHttp[dict]):
    def parse(self, resp: requests.Response) -> dict:
        try:
            return json.loads(resp.content)
        except ValueError as exc:
            raise MalformedResponse("bad JSON") from exc


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def http(sleeps: list[float]) -> JsonHttp:
    clock = [0.0]

    def sleep(s: float) -> None:
        sleeps.append(s)
        clock[0] += s

    limiter = RateLimiter(Limits(), clock=lambda: clock[0], sleep=sleep, now=lambda: NOW)
    return JsonHttp(Tokens(), base_url=BASE, limiter=limiter, sleep=sleep, now=lambda: NOW,
                    retry=RetryPolicy(attempts=3, backoff_initial=0.5, backoff_max=4, jitter=0.0))


@responses.activate
def test_headers_and_the_fixed_stat_names(http: JsonHttp) -> None:
    responses.get(BASE + "things", json={"ok": 1}, headers={"X-DayLimit-Remaining": "4321"})
    assert http.request("GET", "things") == {"ok": 1}
    sent = responses.calls[0].request.headers
    assert sent["Authorization"] == "Bearer t1" and sent["Xero-Tenant-Id"] == "tenant-1"
    stats = http.stats.as_dict()
    assert set(stats) == set(STAT_NAMES) | {"day_remaining"}
    assert stats["calls"] == 1 and stats["day_remaining"] == 4321
    with pytest.raises(KeyError, match="unknown call stat"):
        CallStats().add("http_calls")


@responses.activate
def test_one_refresh_on_401_then_a_second_401_means_reconnect(http: JsonHttp) -> None:
    responses.get(BASE + "things", status=401)
    with pytest.raises(ReconnectRequired, match="401"):
        http.request("GET", "things")
    assert len(responses.calls) == 2 and http.tokens.refreshes == 1
    assert responses.calls[1].request.headers["Authorization"] == "Bearer t2"
    assert http.stats["token_refreshes"] == 1 and http.stats["calls"] == 2


@responses.activate
def test_403_is_reconnect_without_a_refresh_or_retry(http: JsonHttp, sleeps: list[float]) -> None:
    responses.get(BASE + "things", status=403)
    with pytest.raises(ReconnectRequired, match="403"):
        http.request("GET", "things")
    assert len(responses.calls) == 1 and http.tokens.refreshes == 0 and not sleeps


@pytest.mark.parametrize(("retry_after", "is_day"), [(DAY_RETRY_AFTER_THRESHOLD, False),
                                                     (DAY_RETRY_AFTER_THRESHOLD + 1, True)])
@responses.activate
def test_one_day_threshold_for_unlabelled_429(http: JsonHttp, retry_after: float, is_day: bool) -> None:
    responses.get(BASE + "things", status=429, headers={"Retry-After": str(int(retry_after))})
    responses.get(BASE + "things", json={})
    if is_day:
        with pytest.raises(DailyLimitReached) as info:
            http.request("GET", "things")
        assert info.value.resume_at == NOW + timedelta(seconds=retry_after)
        assert http.stats["rate_limited_day"] == 1 and len(responses.calls) == 1
        with pytest.raises(DailyLimitReached):  # parked: no call is spent
            http.request("GET", "things")
        assert len(responses.calls) == 1
    else:
        assert http.request("GET", "things") == {}
        assert http.stats["rate_limited_minute"] == 1 and http.stats["retries"] == 1


@responses.activate
def test_5xx_backoff_then_transient(http: JsonHttp, sleeps: list[float]) -> None:
    responses.get(BASE + "things", status=500)
    with pytest.raises(TransientError) as info:
        http.request("GET", "things")
    assert info.value.retriable and len(responses.calls) == 3 and sleeps == [0.5, 1.0]
    assert http.stats["http_5xx"] == 3 and http.stats["retries"] == 2


@responses.activate
def test_a_write_of_unknown_outcome_is_not_repeated(http: JsonHttp) -> None:
    responses.post(BASE + "things", body=requests.exceptions.ConnectionError("Connection reset by peer"))
    with pytest.raises(TransientError, match="outcome unknown") as info:
        http.request("POST", "things", json={"a": 1}, idempotent=False)
    assert not info.value.retriable and len(responses.calls) == 1


@responses.activate
def test_a_write_refused_with_503_is_repeated(http: JsonHttp) -> None:
    responses.post(BASE + "things", status=503)
    responses.post(BASE + "things", json={"id": 7})
    assert http.request("POST", "things", json={"a": 1}, idempotent=False) == {"id": 7}


@responses.activate
def test_4xx_is_rejected_and_404_not_found(http: JsonHttp) -> None:
    responses.get(BASE + "a", status=400)
    responses.get(BASE + "b", status=404)
    with pytest.raises(RemoteRejected, match="HTTP 400"):
        http.request("GET", "a")
    with pytest.raises(NotFound):
        http.request("GET", "b")
    assert http.stats["rejected"] == 2 and len(responses.calls) == 2


@responses.activate
def test_writes_may_take_the_day_budget_above_the_reserve(http: JsonHttp) -> None:
    # Before any answer: the limiter's daily limit less the reserve.
    assert http.write_calls_left() == Limits().per_day - Limits().write_reserve
    responses.get(BASE + "things", json={}, headers={"X-DayLimit-Remaining": "700"})
    http.request("GET", "things")
    assert http.write_calls_left() == 700 - Limits().write_reserve  # the server's count wins: it sees every client
    responses.get(BASE + "more", json={}, headers={"X-DayLimit-Remaining": "90"})
    http.request("GET", "more")
    assert http.write_calls_left() == 0  # inside the reserve: reads only
    assert http.write_calls_per_day() == Limits().per_day - Limits().write_reserve
    assert JsonHttp(Tokens(), base_url=BASE).write_calls_left() is None  # no limiter, no limit known
