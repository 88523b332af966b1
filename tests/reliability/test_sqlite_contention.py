"""The embedded default under load: a large link run and a sync run in this process while a real `syncworker
serve` on the same SQLite file takes operator writes and signed webhooks. Every unit of work that may write
takes SQLite's write lock before it reads (BEGIN IMMEDIATE), so none of them fails with "database is locked"
(a deferred BEGIN that reads and then writes fails at once whenever another connection committed between)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from simulators.xpm import XpmSimulator
from syncworker.sample import generate_practice
from syncworker.services.context import ServiceContext
from syncworker.services.link_run import run_link_run
from syncworker.services.sync_run import run_sync
from syncworker.store.db import Database
from syncworker.store.models import Client, JobRun, Tenant
from tests.factories import make_client, make_tenant
from tests.http import seed
from tests.http.conftest import Server, start_server, stop_server
from tests.http.test_xero_webhook import event, payload, post
from tests.simulated import clocked_context, connect_practice


@pytest.fixture
def world(sqlite_db: Database, tmp_path: Path) -> Iterator[tuple[ServiceContext, Server]]:
    practice = generate_practice(150, seed=19)  # enough for the runs to overlap many writes; scale is benchmarks' job
    with XpmSimulator(practice=practice, seed=19) as sim:
        ctx = clocked_context(sqlite_db, sim)
        for tenant in ("Linking Practice", "Syncing Practice"):
            connect_practice(ctx, sim, tenant, practice, tmp_path, contacts=True)
        assert run_link_run(ctx, "Syncing Practice", "xpm").status == "succeeded"
        server = start_server(sqlite_db, tmp_path / "serve.log", SYNCWORKER_SECRET_KEY=ctx.settings.secret_key or "")
        try:
            yield ctx, server
        finally:
            stop_server(server)


def test_runs_api_writes_and_webhooks_share_sqlite_without_a_single_failure(
        world: tuple[ServiceContext, Server]) -> None:
    ctx, server = world
    db = ctx.db
    # Local edits the sync pushes while everything else runs.
    with db.session() as s:
        syncing = s.scalar(select(Tenant.id).where(Tenant.name == "Syncing Practice"))
        for c in s.scalars(select(Client).where(Client.tenant_id == syncing, Client.kind == "company").limit(40)):
            c.phone = f"02 9{c.id:07d}"[:20]
    api_tenant = make_tenant(db, "Operators' Practice")
    clients = [f"A{i}" for i in range(12)]
    for ref in clients:
        make_client(db, api_tenant, ref, f"Firm {ref} Pty Ltd")
    hook_tenant = make_tenant(db, "Webhook Practice")
    xero_org = str(uuid.uuid4())
    seed.xero_connection(db, hook_tenant, xero_org)

    done = threading.Event()
    answers: Counter[str] = Counter()
    runs: dict[str, str] = {}

    def operator() -> None:
        try:
            with server.client() as api:
                api.timeout = httpx.Timeout(60)  # a loaded CI machine; a failure is an answer, not a wait
                operator_loop(api)
        except Exception as exc:  # noqa: BLE001 - counted: the assertion below names it
            answers[f"operator {type(exc).__name__}"] += 1

    def operator_loop(api: httpx.Client) -> None:
        i = 0
        while not done.is_set():
            a, b = clients[i % 12], clients[(i + 5) % 12]
            r = api.post("/connections", json={"tenant": "Operators' Practice", "client": a, "related": b, "type": "other"})
            answers[f"POST /connections {r.status_code}"] += 1
            if r.status_code == 201:
                d = api.delete(f"/connections/{r.json()['id']}", params={"tenant": "Operators' Practice"})
                answers[f"DELETE /connections {d.status_code}"] += 1
            i += 1

    def webhooks() -> None:
        while not done.is_set():
            body = payload(*(event(xero_org) for _ in range(3)))
            for _ in range(5):  # as Xero does, a delivery answered 503 ("retry") is delivered again
                r = post(server, body)
                if r.status_code != 503:
                    break
            answers[f"POST /webhooks/xero {r.status_code}"] += 1

    def job(name: str, fn) -> None:  # type: ignore[no-untyped-def]
        runs[name] = fn().status

    load = [threading.Thread(target=operator), threading.Thread(target=webhooks)]
    work = [threading.Thread(target=job, args=("link_run", lambda: run_link_run(ctx, "Linking Practice", "xpm"))),
            threading.Thread(target=job, args=("sync", lambda: run_sync(ctx, "Syncing Practice", "xpm")))]
    for t in load + work:
        t.start()
    for t in work:
        t.join(timeout=240)
    done.set()
    for t in load:
        t.join(timeout=30)

    assert runs == {"link_run": "succeeded", "sync": "succeeded"}, _failures(db)
    bad = {k: v for k, v in answers.items() if not k.endswith((" 200", " 201"))}
    assert not bad, (bad, server.log_text()[-3000:])
    assert answers["POST /connections 201"] >= 2 and answers["POST /webhooks/xero 200"] >= 2, answers
    assert "database is locked" not in server.log_text()


def _failures(db: Database) -> list[tuple[str, str | None]]:
    with db.read() as s:
        return [(r.kind, r.message) for r in s.scalars(select(JobRun).where(JobRun.status == "failed"))]
