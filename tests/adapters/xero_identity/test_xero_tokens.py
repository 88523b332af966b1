"""Token safety rules of TokenManager, and the identity helpers, against the `responses` mock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from adapters.base import TokenSet
from adapters.errors import NotConnected, ReconnectRequired, RemoteRejected, TransientError
from adapters.http_core import RetryPolicy
from adapters.xero_identity.memory_store import InMemoryTokenStore
from adapters.xero_identity.tokens import (
    DEFAULT_AUTHORIZE_URL,
    TokenManager,
    authorize_base_for,
    authorize_url,
    exchange_code,
    list_connections,
)

IDENTITY = "https://identity.test"
TOKEN_URL = IDENTITY + "/connect/token"
T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _stored(access_expires_in: timedelta, **kw: object) -> InMemoryTokenStore:
    return InMemoryTokenStore(TokenSet(
        access_token="A0", refresh_token="R0", expires_at=T0 + access_expires_in, scope=["practicemanager"],
        remote_tenant_id="tenant-1", **kw,  # type: ignore[arg-type]
    ))


def _manager(store: InMemoryTokenStore, clock: Clock | None = None, sleeps: list[float] | None = None) -> TokenManager:
    waits = sleeps if sleeps is not None else []
    return TokenManager(store, client_id="cid", client_secret="secret", identity_url=IDENTITY,
                        clock=clock or Clock(), sleep=waits.append, retry=RetryPolicy(attempts=3, jitter=0))


def _token_reply(n: int) -> dict:
    return {"access_token": f"A{n}", "refresh_token": f"R{n}", "expires_in": 1800, "token_type": "Bearer",
            "scope": "offline_access practicemanager"}


def _sent_refresh_tokens(mocked: responses.RequestsMock) -> list[str]:
    return [parse_qs(c.request.body)["refresh_token"][0] for c in mocked.calls if c.request.url == TOKEN_URL]


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_fresh_access_token_needs_no_call(mocked: responses.RequestsMock) -> None:
    assert _manager(_stored(timedelta(minutes=20))).access_token() == "A0"
    assert len(mocked.calls) == 0


def test_refresh_before_expiry_rotates_and_persists(mocked: responses.RequestsMock) -> None:
    store = _stored(timedelta(seconds=90))  # inside the 2-minute margin
    mocked.post(TOKEN_URL, json=_token_reply(1))
    assert _manager(store).access_token() == "A1"
    req = mocked.calls[0].request
    form = parse_qs(req.body)
    assert form == {"grant_type": ["refresh_token"], "refresh_token": ["R0"]}  # no scope: avoids mismatch
    assert req.headers["Authorization"].startswith("Basic ")  # client secret never in the body
    stored = store.load()
    assert (stored.refresh_token, stored.access_token, stored.version) == ("R1", "A1", 2)
    assert (stored.previous_refresh_token, stored.rotated_at) == ("R0", T0)
    assert stored.expires_at == T0 + timedelta(seconds=1800) and stored.remote_tenant_id == "tenant-1"
    assert stored.scope == ["offline_access", "practicemanager"]


def test_each_refresh_uses_the_latest_refresh_token(mocked: responses.RequestsMock) -> None:
    clock = Clock()
    store = _stored(timedelta(0))
    manager = _manager(store, clock)
    mocked.post(TOKEN_URL, json=_token_reply(1))
    mocked.post(TOKEN_URL, json=_token_reply(2))
    manager.access_token()
    clock.now += timedelta(minutes=29)
    assert manager.access_token() == "A2"
    assert _sent_refresh_tokens(mocked) == ["R0", "R1"]


def test_new_token_is_not_used_unless_persisted(mocked: responses.RequestsMock) -> None:
    class FailingStore(InMemoryTokenStore):
        def compare_and_swap(self, expected_version: int, new: TokenSet) -> bool:
            raise RuntimeError("database down")

    store = FailingStore(TokenSet("A0", "R0", T0, remote_tenant_id="t"))
    mocked.post(TOKEN_URL, json=_token_reply(1))
    with pytest.raises(RuntimeError):
        _manager(store).access_token()
    assert store.load().refresh_token == "R0"  # the old token stays, usable in the grace period


@pytest.mark.parametrize(
    "lost",
    [{"body": requests.exceptions.ReadTimeout("timed out")},
     {"body": requests.exceptions.ConnectionError("Connection reset by peer")},
     {"status": 502}],
    ids=["timeout", "reset", "502"],
)
def test_lost_refresh_response_is_retried_with_the_same_token(mocked: responses.RequestsMock, lost: dict) -> None:
    store = _stored(timedelta(0))
    sleeps: list[float] = []
    mocked.post(TOKEN_URL, **lost)
    mocked.post(TOKEN_URL, json=_token_reply(1))
    assert _manager(store, sleeps=sleeps).access_token() == "A1"
    assert _sent_refresh_tokens(mocked) == ["R0", "R0"] and sleeps == [1.0]
    assert store.load().refresh_token == "R1"


def test_refresh_gives_up_after_attempts_and_keeps_the_stored_token(mocked: responses.RequestsMock) -> None:
    store = _stored(timedelta(0))
    mocked.post(TOKEN_URL, body=requests.exceptions.ConnectionError("reset"))
    with pytest.raises(TransientError):
        _manager(store).access_token()
    assert len(mocked.calls) == 3 and store.load().refresh_token == "R0" and store.reconnect_reason is None


def test_retries_stop_when_the_grace_period_is_over(mocked: responses.RequestsMock) -> None:
    clock = Clock()
    store = _stored(timedelta(0))

    def slow_failure(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        clock.now += timedelta(minutes=31)
        raise requests.exceptions.ReadTimeout("timed out")

    mocked.add_callback(responses.POST, TOKEN_URL, callback=slow_failure)
    with pytest.raises(TransientError):
        _manager(store, clock).access_token()
    assert len(mocked.calls) == 1  # a retry after 30 minutes would be refused: do not spend it


def test_invalid_grant_marks_reconnect_required(mocked: responses.RequestsMock) -> None:
    store = _stored(timedelta(0))
    mocked.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    with pytest.raises(ReconnectRequired):
        _manager(store).access_token()
    assert store.reconnect_reason and "invalid_grant" in store.reconnect_reason
    assert len(mocked.calls) == 1  # retrying a revoked grant never helps


def test_invalid_grant_tries_the_previous_token_inside_the_grace(mocked: responses.RequestsMock) -> None:
    store = _stored(timedelta(0), previous_refresh_token="Rprev", rotated_at=T0 - timedelta(minutes=10))
    mocked.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    mocked.post(TOKEN_URL, json=_token_reply(1))
    assert _manager(store).access_token() == "A1"
    assert _sent_refresh_tokens(mocked) == ["R0", "Rprev"] and store.reconnect_reason is None


def test_other_token_errors_do_not_mark_reconnect(mocked: responses.RequestsMock) -> None:
    store = _stored(timedelta(0))
    mocked.post(TOKEN_URL, status=400, json={"error": "invalid_client"})
    with pytest.raises(RemoteRejected, match="invalid_client"):
        _manager(store).access_token()
    assert store.reconnect_reason is None


def test_lost_compare_and_swap_uses_the_other_workers_token(mocked: responses.RequestsMock) -> None:
    store = _stored(timedelta(0))

    def other_worker_wins(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        # Another process (no shared lock) refreshed and stored while our call was in flight.
        current = store.load()
        store.compare_and_swap(current.version, TokenSet("A-other", "R-other", T0 + timedelta(minutes=30),
                                                         remote_tenant_id="tenant-1"))
        return 200, {}, json.dumps(_token_reply(1))

    mocked.add_callback(responses.POST, TOKEN_URL, callback=other_worker_wins)
    assert _manager(store).access_token() == "A-other"
    assert store.load().refresh_token == "R-other"  # ours was not written over theirs


def test_concurrent_callers_share_one_refresh(mocked: responses.RequestsMock) -> None:
    store = _stored(timedelta(0))

    def slow_reply(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        time.sleep(0.05)
        return 200, {}, json.dumps(_token_reply(1))

    mocked.add_callback(responses.POST, TOKEN_URL, callback=slow_reply)
    managers = [_manager(store) for _ in range(2)]  # two managers, same tenant: still one refresh
    results: list[str] = []
    threads = [threading.Thread(target=lambda m=managers[i % 2]: results.append(m.access_token())) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["A1"] * 8 and len(mocked.calls) == 1


def test_store_refresh_lock_is_held_around_the_refresh(mocked: responses.RequestsMock) -> None:
    events: list[str] = []

    class LockingStore(InMemoryTokenStore):
        @contextmanager
        def refresh_lock(self) -> Iterator[None]:
            events.append("lock")
            yield
            events.append("unlock")

        def compare_and_swap(self, expected_version: int, new: TokenSet) -> bool:
            events.append("cas")
            return super().compare_and_swap(expected_version, new)

    store = LockingStore(TokenSet("A0", "R0", T0, remote_tenant_id="t"))
    mocked.post(TOKEN_URL, json=_token_reply(1))
    _manager(store).access_token()
    assert events == ["lock", "cas", "unlock"]


def test_force_refresh_skips_when_another_worker_already_replaced_the_token(mocked: responses.RequestsMock) -> None:
    store = _stored(timedelta(minutes=20))
    manager = _manager(store)
    assert manager.force_refresh("A-stale") == "A0" and len(mocked.calls) == 0
    mocked.post(TOKEN_URL, json=_token_reply(1))
    assert manager.force_refresh("A0") == "A1" and len(mocked.calls) == 1


def test_not_connected_without_tokens() -> None:
    manager = _manager(InMemoryTokenStore())
    with pytest.raises(NotConnected):
        manager.access_token()
    with pytest.raises(NotConnected):
        _ = manager.remote_tenant_id


# --- identity helpers ---
def test_authorize_url_and_hosts() -> None:
    url = authorize_url("cid", "http://127.0.0.1:8765/callback", ["offline_access", "practicemanager"], "st8")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == DEFAULT_AUTHORIZE_URL  # login.xero.com
    assert parse_qs(parts.query) == {"response_type": ["code"], "client_id": ["cid"], "state": ["st8"],
                                     "redirect_uri": ["http://127.0.0.1:8765/callback"],
                                     "scope": ["offline_access practicemanager"]}
    assert authorize_base_for("https://identity.xero.com") == DEFAULT_AUTHORIZE_URL
    assert authorize_base_for("http://127.0.0.1:9000") == "http://127.0.0.1:9000/identity/connect/authorize"
    assert authorize_base_for("http://127.0.0.1:9000", "http://other/auth") == "http://other/auth"


def test_exchange_code(mocked: responses.RequestsMock) -> None:
    mocked.post(TOKEN_URL, json=_token_reply(1))
    ts = exchange_code("code-1", client_id="cid", client_secret="s", redirect_uri="http://127.0.0.1/cb",
                       identity_url=IDENTITY, clock=lambda: T0)
    assert (ts.access_token, ts.refresh_token, ts.expires_at, ts.version) == ("A1", "R1", T0 + timedelta(minutes=30), 0)
    assert parse_qs(mocked.calls[0].request.body) == {
        "grant_type": ["authorization_code"], "code": ["code-1"], "redirect_uri": ["http://127.0.0.1/cb"]}


def test_list_connections_filters_by_tenant_type(mocked: responses.RequestsMock) -> None:
    mocked.get("https://api.test/connections", json=[
        {"id": "c1", "tenantId": "t-xpm", "tenantType": "PRACTICEMANAGER", "tenantName": "Smith & Co",
         "authEventId": "e", "createdDateUtc": "2026-11-20T01:02:03.1234567", "updatedDateUtc": None},
        {"id": "c2", "tenantId": "t-org", "tenantType": "ORGANISATION", "tenantName": "Demo Org"},
    ])
    conns = list_connections("https://api.test/", "A1")
    assert [(c.tenant_id, c.tenant_name) for c in conns] == [("t-xpm", "Smith & Co")]
    assert conns[0].created_date_utc == datetime(2026, 11, 20, 1, 2, 3, 123456, tzinfo=UTC)
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer A1"
    assert len(list_connections("https://api.test", "A1", tenant_type=None)) == 2
