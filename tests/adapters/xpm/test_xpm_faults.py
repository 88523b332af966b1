"""Each fault XPM can answer with, and what the client does about it (waits are recorded, not slept)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
import responses
from xpm_fakes import BASE, NOW, Sleeps, client_xml, envelope

from adapters.errors import (
    DailyLimitReached,
    MalformedResponse,
    ReconnectRequired,
    RemoteRejected,
    TransientError,
)
from adapters.xpm.client import XpmClient
from syncworker.domain.profile import ClientKind, ClientProfile

A = "f8235e1a-d383-48b7-9139-ba97ab8ca889"
GET_URL = BASE + f"client.api/get/{A}"
OK_BODY = envelope(client_xml(A, "Acme"))


def test_minute_429_waits_retry_after_then_succeeds(
    mocked: responses.RequestsMock, client: XpmClient, sleeps: Sleeps
) -> None:
    mocked.get(GET_URL, status=429, headers={"Retry-After": "17", "X-Rate-Limit-Problem": "minute"})
    mocked.get(GET_URL, body=OK_BODY)
    assert client.get_client(A).name == "Acme"
    assert len(mocked.calls) == 2
    assert sleeps and 17 <= sleeps[0] <= 17.25  # Retry-After plus jitter (0.25 in these tests)
    stats = client.call_stats()
    assert stats["rate_limited_minute"] == 1 and stats["retries"] == 1


def test_day_429_raises_without_retry_and_parks_the_tenant(
    mocked: responses.RequestsMock, client: XpmClient, sleeps: Sleeps
) -> None:
    mocked.get(GET_URL, status=429, headers={"Retry-After": "66975", "X-Rate-Limit-Problem": "DayLimit"})
    with pytest.raises(DailyLimitReached) as info:
        client.get_client(A)
    assert info.value.resume_at == NOW + timedelta(seconds=66975)
    assert len(mocked.calls) == 1 and not sleeps
    # Later calls for the same tenant stop at once, without spending calls on more 429s.
    with pytest.raises(DailyLimitReached):
        client.search_clients("x")
    assert len(mocked.calls) == 1


def test_long_retry_after_without_problem_header_is_treated_as_day(
    mocked: responses.RequestsMock, client: XpmClient
) -> None:
    mocked.get(GET_URL, status=429, headers={"Retry-After": "40000"})
    with pytest.raises(DailyLimitReached):
        client.get_client(A)
    assert len(mocked.calls) == 1


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "body": "<Response><Status>ERROR</Status></Response>"},
        {"status": 502, "body": "bad gateway"},
        {"body": requests.exceptions.ReadTimeout("read timed out")},
        {"body": requests.exceptions.ConnectionError("Connection reset by peer")},
        {"body": requests.exceptions.ChunkedEncodingError("body cut short")},
    ],
    ids=["500", "502", "read-timeout", "reset", "truncated"],
)
def test_transient_failures_are_retried_with_backoff_then_raised(
    mocked: responses.RequestsMock, client: XpmClient, sleeps: Sleeps, failure: dict
) -> None:
    mocked.get(GET_URL, **failure)
    with pytest.raises(TransientError) as info:
        client.get_client(A)
    assert info.value.retriable
    assert len(mocked.calls) == 4  # max_retries=3 -> 4 attempts, then give up
    assert len(sleeps) == 3 and sleeps[0] < sleeps[1] < sleeps[2] <= 8.25  # exponential, capped


def test_transient_failure_then_success(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.get(GET_URL, status=503)
    mocked.get(GET_URL, body=requests.exceptions.ConnectionError("Connection reset by peer"))
    mocked.get(GET_URL, body=OK_BODY)
    assert client.get_client(A).id == A
    assert client.call_stats()["retries"] == 2


def test_malformed_xml_is_retried_then_malformed_response(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.get(GET_URL, body="<Response><Status>OK</Status><Client><UUID>")
    with pytest.raises(MalformedResponse):
        client.get_client(A)
    assert len(mocked.calls) == 4 and client.call_stats()["malformed"] == 4


def test_status_error_on_200_is_not_retried(mocked: responses.RequestsMock, client: XpmClient, sleeps: Sleeps) -> None:
    mocked.put(BASE + "client.api/update",
               body="<Response><Status>ERROR</Status><ErrorDescription>Invalid BusinessStructure</ErrorDescription></Response>")
    with pytest.raises(RemoteRejected, match="Invalid BusinessStructure"):
        client.update_client(A, {"name": "Acme"})
    assert len(mocked.calls) == 1 and not sleeps


def test_http_400_with_xml_description(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.get(BASE + "client.api/paged-list", status=400,
               body="<Response><Status>ERROR</Status><ErrorDescription>Invalid pageToken</ErrorDescription></Response>")
    with pytest.raises(RemoteRejected, match="Invalid pageToken"):
        list(client.iter_client_pages(resume_from="page:stale"))
    assert len(mocked.calls) == 1


def test_create_is_not_repeated_when_its_outcome_is_unknown(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.post(BASE + "client.api/add", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(TransientError, match="outcome unknown") as info:
        client.create_client(ClientProfile(id="l1", kind=ClientKind.COMPANY, name="Acme"))
    assert len(mocked.calls) == 1 and not info.value.retriable


def test_create_is_repeated_after_a_minute_429(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.post(BASE + "client.api/add", status=429, headers={"Retry-After": "1", "X-Rate-Limit-Problem": "minute"})
    mocked.post(BASE + "client.api/add", body=OK_BODY)
    assert client.create_client(ClientProfile(id="l1", kind=ClientKind.COMPANY, name="Acme")).id == A
    assert len(mocked.calls) == 2


def test_401_refreshes_the_token_once(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.get(GET_URL, status=401, json={"Title": "Unauthorized", "Detail": "TokenExpired"})
    mocked.get(GET_URL, body=OK_BODY)
    assert client.get_client(A).id == A
    assert client.tokens.force_calls == ["access-1"]
    assert mocked.calls[1].request.headers["Authorization"] == "Bearer access-2"


def test_401_after_refresh_needs_reconnect(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.get(GET_URL, status=401)
    with pytest.raises(ReconnectRequired, match="401"):
        client.get_client(A)
    assert len(mocked.calls) == 2


def test_rate_limit_headers_feed_the_limiter(mocked: responses.RequestsMock, client: XpmClient, sleeps: Sleeps) -> None:
    # Another process has used this minute: the server says 0 left, so our next call waits for the window.
    mocked.get(GET_URL, body=OK_BODY, headers={"X-MinLimit-Remaining": "0", "X-DayLimit-Remaining": "4000"})
    client.get_client(A)
    assert not sleeps
    client.get_client(A)
    assert len(sleeps) == 1 and 60 <= sleeps[0] <= 61.5 and len(mocked.calls) == 2


def test_concurrent_429_without_retry_after_waits_briefly(
    mocked: responses.RequestsMock, client: XpmClient, sleeps: Sleeps
) -> None:
    mocked.get(GET_URL, status=429, headers={"X-Rate-Limit-Problem": "concurrent"})
    mocked.get(GET_URL, body=OK_BODY)
    assert client.get_client(A).id == A
    assert sleeps and sleeps[0] <= 1.25


def test_token_failure_is_not_retried_and_nothing_is_sent(mocked: responses.RequestsMock, client: XpmClient) -> None:
    def no_token() -> str:
        raise TransientError("identity unreachable")

    client.tokens.access_token = no_token  # type: ignore[method-assign]
    with pytest.raises(TransientError, match="no access token") as info:
        client.create_client(ClientProfile(id="l1", kind=ClientKind.COMPANY, name="Acme"))
    assert "outcome unknown" not in str(info.value) and len(mocked.calls) == 0
