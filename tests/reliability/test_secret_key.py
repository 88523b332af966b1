"""A secret key that cannot decrypt the stored credentials is reported at start-up and by /health (503),
instead of /health staying green while every run fails as an internal error."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from syncworker.config import Settings
from syncworker.http.app import create_app
from syncworker.jobs.inprocess import InProcessExecutor
from syncworker.services.context import ServiceContext
from syncworker.services.snapshots import record_hash
from syncworker.store import crypto
from syncworker.store.crypto import Cipher, FieldSealer, KeyCheck, generate_key, secret_key_problem
from syncworker.store.db import Database
from syncworker.store.models import RemoteRecord, TenantSystem
from tests.factories import make_tenant


def health(db: Database, key: str | None) -> tuple[int, dict[str, object]]:
    ctx = ServiceContext(db, Settings(database_url=db.url, secret_key=key))
    executor = InProcessExecutor(ctx, workers=1)
    try:
        with TestClient(create_app(ctx, executor)) as client:
            r = client.get("/health")
            return r.status_code, r.json()
    finally:
        executor.shutdown()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_health_and_start_up_check_the_key_against_the_stored_credentials(db: Database) -> None:
    key = generate_key()
    assert health(db, None)[0] == 200  # nothing stored yet: no key needed
    tenant = make_tenant(db, "Keyed")
    with db.session() as s:
        s.add(TenantSystem(tenant_id=tenant, system="xpm", status="connected",
                           credentials=Cipher(key).encrypt(b'{"refresh_token": "r"}')))
    assert health(db, key) == (200, {"status": "ok", "database": "reachable", "schema": "current",
                                     "secret_key": "ok"})
    for wrong in (None, "not-a-key", generate_key()):
        status, body = health(db, wrong)
        assert status == 503 and body["secret_key"] == "unusable", body
        assert secret_key_problem(db, wrong) == body["detail"]
    assert "cannot be decrypted" in str(secret_key_problem(db, generate_key()))


def test_health_probes_search_the_sync_tables_for_a_sealed_tax_number_once_per_refresh(sqlite_db: Database) -> None:
    """A load balancer probes /health every few seconds; with nothing sealed, the search for a sealed tax
    number reads every cached record's payload, so it runs once per refresh, not once per probe, and a
    wrong key is still caught by the value found (and by one sealed after, once the refresh is due)."""
    now = [0.0]
    other = Database(sqlite_db.url, secret_key=generate_key())  # another process, with the right key
    tenant = make_tenant(other, "Probed")
    ctx = ServiceContext(sqlite_db, Settings(database_url=sqlite_db.url, secret_key=generate_key()))  # wrong key
    executor = InProcessExecutor(ctx, workers=1)
    statements: list[str] = []
    event.listen(sqlite_db.engine, "before_cursor_execute", lambda *a: statements.append(str(a[2])))
    try:
        with TestClient(create_app(ctx, executor)) as client:
            client.app.state.key_check = KeyCheck(sqlite_db, ctx.settings.secret_key, refresh_s=300,
                                                  clock=lambda: now[0])
            probes = [client.get("/health").status_code for _ in range(5)]
            assert probes == [200] * 5  # nothing sealed: no key to disagree with
            assert sum("remote_records" in sql for sql in statements) == 1, statements  # not 5 table scans

            with other.session() as s:  # the other process seals a pulled TFN
                payload = {"id": "R1", "name": "Ada", "TaxNumber": "876 543 217"}
                s.add(RemoteRecord(tenant_id=tenant, system="xero", record_type="client", remote_id="R1",
                                   payload=payload, payload_hash=record_hash(s, payload), remote_status="active"))
            assert client.get("/health").status_code == 200  # within the refresh: not looked for again
            now[0] = 300.0
            statements.clear()
            for _ in range(3):
                r = client.get("/health")
                assert r.status_code == 503 and "tax numbers cannot be decrypted" in r.json()["detail"], r.json()
            assert sum("remote_records" in sql for sql in statements) == 1, statements  # the value found is kept
    finally:
        executor.shutdown()
        other.dispose()


def test_probes_arriving_together_share_one_search_for_a_sealed_tax_number(sqlite_db: Database,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Each /health probe runs in a thread of its own, so probes arrive together, at start and when the
    refresh is due; only one of them searches (the search is slowest when the database is), the others wait
    for it at start, when no value is known yet, and afterwards answer at once with the value found last."""
    now, searches, done = [0.0], [], threading.Event()

    def slow_search(db: Database) -> str | None:
        searches.append(now[0])
        assert done.wait(10)
        return None

    monkeypatch.setattr(crypto, "_sealed_sample", slow_search)
    check = KeyCheck(sqlite_db, generate_key(), refresh_s=300, clock=lambda: now[0])
    with ThreadPoolExecutor(8) as pool:
        first = [pool.submit(check.problem) for _ in range(8)]
        while not searches:
            time.sleep(0.01)
        time.sleep(0.3)  # time for the other probes to start a search of their own, if they could
        done.set()
        assert [f.result(10) for f in first] == [None] * 8
        assert searches == [0.0]

        now[0], done = 300.0, threading.Event()  # the refresh is due
        due = [pool.submit(check.problem) for _ in range(8)]
        deadline = time.monotonic() + 10
        while sum(f.done() for f in due) < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sum(f.done() for f in due) == 7 and not done.is_set()  # without waiting for the search
        done.set()
        assert [f.result(10) for f in due] == [None] * 8
        assert searches == [0.0, 300.0]


def test_health_is_503_unreachable_when_the_database_drops_during_the_key_check(sqlite_db: Database,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection that drops between `select 1` and the key check means the database is unreachable (503),
    not a 500 with a traceback; the sealed value found before is kept, so a wrong key is still caught."""
    now = [0.0]
    sealed_with_another_key = FieldSealer(generate_key()).seal("876 543 217")
    monkeypatch.setattr(crypto, "_sealed_sample", lambda db: sealed_with_another_key)
    ctx = ServiceContext(sqlite_db, Settings(database_url=sqlite_db.url, secret_key=generate_key()))
    executor = InProcessExecutor(ctx, workers=1)
    try:
        with TestClient(create_app(ctx, executor)) as client:
            client.app.state.key_check = KeyCheck(sqlite_db, ctx.settings.secret_key, refresh_s=300,
                                                  clock=lambda: now[0])
            assert client.get("/health").json()["secret_key"] == "unusable"

            def dropped(db: Database) -> str | None:
                raise OperationalError("SELECT payload FROM remote_records", {}, Exception("connection reset"))

            monkeypatch.setattr(crypto, "_sealed_sample", dropped)
            now[0] = 300.0
            r = client.get("/health")
            assert (r.status_code, r.json()) == (503, {"status": "unavailable", "database": "unreachable",
                                                       "schema": "unknown"})
            r = client.get("/health")  # the failed search is not repeated by every probe until the next refresh
            assert r.status_code == 503 and r.json()["secret_key"] == "unusable", r.json()
    finally:
        executor.shutdown()


def test_serve_searches_for_a_sealed_tax_number_once_for_its_start_up_check_and_the_first_probe(
        sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` checks the key at start-up, and the first /health probe comes moments later: with nothing
    sealed, each search reads every cached record's payload (15,000 clients × each system), so the probe
    answers with the start-up check's search instead of running its own."""
    import uvicorn
    from click.testing import CliRunner

    from syncworker.cli.serve_cmds import serve

    searches: list[Database] = []
    search = crypto._sealed_sample
    monkeypatch.setattr(crypto, "_sealed_sample", lambda db: searches.append(db) or search(db))
    probes: list[int] = []

    def first_probe(server: uvicorn.Server) -> None:  # in place of serving: what a load balancer asks first
        probes.append(TestClient(server.config.app).get("/health").status_code)
        server.started = True

    monkeypatch.setattr(uvicorn.Server, "run", first_probe)
    key = generate_key()
    make_tenant(sqlite_db, "Served")
    result = CliRunner().invoke(serve, ["--jobs", "here"], env={
        "SYNCWORKER_DATABASE_URL": sqlite_db.url, "SYNCWORKER_SECRET_KEY": key, "SYNCWORKER_OPERATOR_TOKEN": "t"})
    assert result.exit_code == 0, result.output
    assert probes == [200]
    assert len(searches) == 1  # was 2: the start-up check's, then the first probe's
