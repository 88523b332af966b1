"""Behaviour that depends on configuration or on failures a server process cannot be made to show cheaply:
the app factory with a recording executor, on uvicorn in a thread of the test process (real sockets)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from syncworker.config import Settings
from syncworker.http import webhooks
from syncworker.http.app import create_app
from syncworker.jobs.base import JobRejected, JobRequest
from syncworker.services.context import ServiceContext
from syncworker.store.db import Database
from tests.factories import make_tenant
from tests.http import seed
from tests.http.conftest import OPERATOR_TOKEN, WEBHOOK_KEY, serving, sign
from tests.http.test_xero_webhook import event, payload


class RecordingExecutor:
    def __init__(self, action: Callable[[JobRequest], int] | None = None) -> None:
        self.requests: list[JobRequest] = []
        self.action = action

    def submit(self, request: JobRequest) -> int:
        self.requests.append(request)
        return self.action(request) if self.action else len(self.requests)

    def shutdown(self, wait: bool = True) -> None:
        pass


def settings(db: Database, **overrides: object) -> Settings:
    base = Settings(database_url=db.url, operator_token=OPERATOR_TOKEN, xero_webhook_key=WEBHOOK_KEY)
    return replace(base, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def make_client(sqlite_db: Database) -> Iterator[Callable[..., httpx.Client]]:
    with ExitStack() as running:

        def make(executor: RecordingExecutor | None = None, db: Database | None = None,
                 **overrides: object) -> httpx.Client:
            db = db or sqlite_db
            url = running.enter_context(serving(create_app(ServiceContext(db, settings(db, **overrides)),
                                                           executor or RecordingExecutor())))
            return running.enter_context(httpx.Client(base_url=url, timeout=10,
                                                      headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}))

        yield make


def test_without_an_operator_token_operator_endpoints_fail_closed(make_client: Callable[..., httpx.Client]) -> None:
    client = make_client(operator_token=None)
    for method, path in (("GET", "/runs"), ("POST", "/runs"), ("GET", "/metrics"), ("GET", "/reviews?tenant=x")):
        r = client.request(method, path, headers={"Authorization": "Bearer anything"})
        assert r.status_code == 503, path
        assert "SYNCWORKER_OPERATOR_TOKEN is not set" in r.json()["detail"]
    assert client.get("/health").status_code == 200


def test_without_a_webhook_key_webhooks_are_refused(make_client: Callable[..., httpx.Client]) -> None:
    client = make_client(xero_webhook_key=None)
    body = payload()
    r = client.post("/webhooks/xero", content=body,
                    headers={"x-xero-signature": sign(body), "Content-Type": "application/json"})
    assert r.status_code == 503 and "SYNCWORKER_XERO_WEBHOOK_KEY" in r.json()["detail"]


def test_a_bug_is_a_bare_500_and_its_message_stays_out_of_answer_and_log(
        make_client: Callable[..., httpx.Client], sqlite_db: Database, caplog: pytest.LogCaptureFixture) -> None:
    make_tenant(sqlite_db, "Bug Practice")
    secret = f"secret-{uuid.uuid4().hex} jane@example.com"  # built at run time: not in the traceback's source

    def explode(request: JobRequest) -> int:
        raise RuntimeError(secret)

    client = make_client(RecordingExecutor(explode))
    with caplog.at_level(logging.ERROR):
        r = client.post("/runs", json={"tenant": "Bug Practice", "kind": "sync"})
    assert r.status_code == 500
    assert set(r.json()) == {"detail", "error_id"} and r.json()["detail"] == "internal error"
    assert secret not in r.text
    assert r.json()["error_id"] in caplog.text and "RuntimeError" in caplog.text
    assert secret not in caplog.text and "jane@" not in caplog.text


def test_job_rejections_map_to_409_when_busy_and_422_otherwise(make_client: Callable[..., httpx.Client],
                                                                sqlite_db: Database) -> None:
    make_tenant(sqlite_db, "Busy Practice")
    answers = iter([JobRejected("tenant is busy (run 41)", busy_run_id=41), JobRejected("unknown trigger")])

    def refuse(request: JobRequest) -> int:
        raise next(answers)

    client = make_client(RecordingExecutor(refuse))
    r = client.post("/runs", json={"tenant": "Busy Practice", "kind": "link_run"})
    assert (r.status_code, r.json()) == (409, {"detail": "tenant is busy (run 41)", "busy_run_id": 41})
    r = client.post("/runs", json={"tenant": "Busy Practice", "kind": "link_run"})
    assert (r.status_code, r.json()["detail"]) == (422, "unknown trigger")


def test_the_run_request_reaches_the_executor_as_sent(make_client: Callable[..., httpx.Client],
                                                      sqlite_db: Database) -> None:
    make_tenant(sqlite_db, "Queue Practice")
    executor = RecordingExecutor()
    client = make_client(executor)
    r = client.post("/runs", json={"tenant": "Queue Practice", "kind": "sync", "system": "xero", "dry_run": True})
    assert r.status_code == 202
    assert executor.requests == [JobRequest(kind="sync", tenant="Queue Practice", trigger="operator",
                                            params={"system": "xero", "dry_run": True})]


def test_a_store_too_slow_for_xero_gets_503_so_xero_retries(make_client: Callable[..., httpx.Client],
                                                            sqlite_db: Database,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    tenant_id = make_tenant(sqlite_db, "Slow Practice")
    remote = str(uuid.uuid4())
    seed.xero_connection(sqlite_db, tenant_id, remote)
    release = threading.Event()

    def stall(request: JobRequest) -> int:
        release.wait(5)
        return 1

    monkeypatch.setattr(webhooks, "ANSWER_WITHIN", 0.3)
    client = make_client(RecordingExecutor(stall))
    body = payload(event(remote))
    began = time.monotonic()
    r = client.post("/webhooks/xero", content=body,
                    headers={"x-xero-signature": sign(body), "Content-Type": "application/json"})
    release.set()
    assert r.status_code == 503 and time.monotonic() - began < 2


def test_health_is_503_when_the_schema_is_not_current(make_client: Callable[..., httpx.Client],
                                                      tmp_path: Path) -> None:
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        r = make_client(db=empty).get("/health")
    finally:
        empty.dispose()
    assert r.status_code == 503
    assert (r.json()["database"], r.json()["schema"]) == ("reachable", "empty")
    assert "syncworker db upgrade" in r.json()["detail"]


def test_health_is_503_without_the_url_when_the_database_is_unreachable(
        make_client: Callable[..., httpx.Client]) -> None:
    gone = Database("postgresql://health_user:hunter2@127.0.0.1:1/nowhere?connect_timeout=2")
    try:
        r = make_client(db=gone).get("/health")
    finally:
        gone.dispose()
    assert r.status_code == 503 and r.json()["database"] == "unreachable"
    assert "hunter2" not in r.text and "127.0.0.1:1" not in r.text


def test_tax_numbers_unreadable_with_the_key_configured_answer_503_with_the_reason(
        sqlite_db: Database, make_client: Callable[..., httpx.Client]) -> None:
    from syncworker.store.crypto import generate_key
    from syncworker.store.models import Link
    from tests.factories import make_client as make_local_client

    sqlite_db.use_secret_key(generate_key())
    tenant_id = make_tenant(sqlite_db, "Sealed Practice")
    client_id = make_local_client(sqlite_db, tenant_id, "C1", "Ada Quill", kind="individual", tax_number="876543217")
    with sqlite_db.session() as s:
        s.add(Link(tenant_id=tenant_id, client_id=client_id, system="xpm", remote_id="R1", status="linked"))
    other_key = Database(sqlite_db.url)  # the same file, served with another key
    client = make_client(db=other_key, secret_key=generate_key())

    r = client.get("/links", params={"tenant": "Sealed Practice"})

    assert r.status_code == 503
    assert "cannot be decrypted with SYNCWORKER_SECRET_KEY" in r.json()["detail"]
    assert "876" not in r.text and "Ada" not in r.text
    other_key.dispose()
