"""Pulls: a pull stopped mid-listing resumes at its last stored page; a full reconcile reports linked
records the listing no longer holds, an incremental pull never infers that; Xero webhooks drive one
targeted pull per change through the real receiver, and redeliveries change nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import pytest
import sqlalchemy as sa

from adapters import ratelimit
from adapters.base import ClientSystem
from syncworker.http.app import create_app
from syncworker.jobs.inprocess import InProcessExecutor
from syncworker.services.context import ServiceContext
from syncworker.services.sync_run import run_sync
from syncworker.store.db import Database
from syncworker.store.models import Checkpoint, JobRun, Link, RemoteRecord, TenantSystem, WebhookEvent
from tests.http.conftest import serving
from tests.sync.worlds import SyncWorld, xero_world, xpm_world

pytestmark = pytest.mark.e2e


def test_a_pull_stopped_mid_listing_resumes_at_the_last_stored_page(db: Database) -> None:
    with xero_world(db, contacts=250) as w:  # three pages of 100
        real = w.ctx.adapter_factory

        def pages_of_100(ctx: ServiceContext, tenant_id: int, system: str) -> ClientSystem:
            adapter = real(ctx, tenant_id, system)
            adapter.page_size = 100  # type: ignore[attr-defined]
            return adapter

        def stop_after_two_pages(ctx: ServiceContext, tenant_id: int, system: str) -> ClientSystem:
            adapter = pages_of_100(ctx, tenant_id, system)
            listing = adapter.iter_client_pages

            def pages(**kwargs: object) -> Iterator[object]:
                for n, page in enumerate(listing(**kwargs), 1):  # type: ignore[arg-type]
                    yield page
                    if n == 2:
                        w.sim.faults.inject("day_429")  # the daily limit runs out before page 3

            adapter.iter_client_pages = pages  # type: ignore[method-assign]
            return adapter

        stopped = run_sync(ServiceContext(w.db, w.ctx.settings, stop_after_two_pages), w.tenant, "xero", full=True)
        assert stopped.status == "partial" and "daily API limit" in (stopped.message or "")
        assert stopped.counts["pages"] == 2
        with w.db.session() as s:
            cp = s.scalar(sa.select(Checkpoint).where(Checkpoint.stream == "clients"))
            assert cp.value["resume"] and cp.value["mode"] == "full"
            stored = s.scalar(sa.select(sa.func.count()).select_from(RemoteRecord))
            assert stored == stopped.counts["remote_new"] and stored >= 190  # two pages' worth
            s.execute(sa.update(TenantSystem).values(paused_until=None))  # as if the next day had come
        ratelimit._shared.pop(f"xero-tenant:{w.sim.xero_tenant_id}")  # the parked limiter too
        lists = w.sim.stats["GET Contacts"]

        resumed = run_sync(ServiceContext(w.db, w.ctx.settings, pages_of_100), w.tenant, "xero")

        assert resumed.status == "succeeded", (resumed.message, resumed.errors[:3], resumed.counts)
        assert resumed.counts["resumed_from_checkpoint"] == 1
        assert w.sim.stats["GET Contacts"] == lists + 1  # only the page that was missing
        assert resumed.deleted == []  # the pages of the stopped run count as seen by this listing
        listing = [p for page in w.ctx.adapter(w.tenant_id, "xero").iter_client_pages() for p in page.items]
        total = len(listing)
        assert resumed.counts["remote_new"] == total - stored
        with w.db.session() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(RemoteRecord)) == total
            cp = s.scalar(sa.select(Checkpoint).where(Checkpoint.stream == "clients"))
            assert cp.value["resume"] is None
        # The next incremental pull starts where Xero's own clock says the listing ended (the adapter's
        # `next_cursor`), not at our start time less an overlap.
        assert datetime.fromisoformat(cp.value["cursor"]) == max(p.modified_at for p in listing)


def test_deletes_are_reported_by_a_full_reconcile_never_inferred_from_an_incremental_pull(db: Database) -> None:
    with xpm_world(db, clients=8) as w:
        assert run_sync(w.ctx, w.tenant, "xpm").status == "succeeded"
        local_id, rid = next(iter(w.pairs.items()))
        w.sim.store.archive_client(rid)

        incremental = run_sync(w.ctx, w.tenant, "xpm")
        assert [a["remote_id"] for a in incremental.archived] == [rid] and incremental.deleted == []

        full = run_sync(w.ctx, w.tenant, "xpm", full=True)  # the detailed listing has archived clients too
        assert [a["remote_id"] for a in full.archived] == [rid] and full.deleted == []
        with w.sim.store.lock:
            del w.sim.store.clients[rid]  # gone from every listing: only a full one can tell
        assert run_sync(w.ctx, w.tenant, "xpm").deleted == []
        full = run_sync(w.ctx, w.tenant, "xpm", full=True)
        assert [d["remote_id"] for d in full.deleted] == [rid]
        with w.db.session() as s:  # reported, nothing destroyed
            assert s.scalar(sa.select(Link.status).where(Link.remote_id == rid)) == "linked"
        assert w.local(local_id).status == "active"


@pytest.fixture
def hooked(sqlite_db: Database) -> Iterator[SyncWorld]:
    """A Xero world whose simulator delivers webhooks to the real receiver, which queues webhook pulls on
    the in-process executor."""
    with xero_world(sqlite_db, contacts=6) as w:
        assert run_sync(w.ctx, w.tenant, "xero").status == "succeeded"
        ctx = ServiceContext(w.db, replace(w.ctx.settings, operator_token="t", xero_webhook_key=w.sim.webhook_key))
        executor = InProcessExecutor(ctx, workers=1)
        with serving(create_app(ctx, executor)) as url:
            w.sim.webhook_url = f"{url}/webhooks/xero"
            yield w
        executor.shutdown()


def _settle(w: SyncWorld) -> None:
    assert w.sim.webhooks.wait_idle(60)  # deadlines that only catch a hang: a loaded CI machine is slow
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with w.db.session() as s:
            running = s.scalar(sa.select(sa.func.count()).select_from(JobRun).where(JobRun.status == "running"))
        if not running:
            return
        time.sleep(0.05)
    raise AssertionError("webhook pulls did not finish")


def test_a_webhook_pulls_the_contact_once_and_redeliveries_change_nothing(hooked: SyncWorld) -> None:
    w = hooked
    local_id, rid = next(iter(w.pairs.items()))
    gets = w.sim.stats.get("GET Contacts", 0)  # webhook pulls read `GET /Contacts?IDs=`

    w.sim.store.edit(rid, EmailAddress="via.webhook@example.test")
    _settle(w)

    assert w.local(local_id).email == "via.webhook@example.test"
    assert w.sim.stats.get("GET Contacts", 0) == gets + 1
    with w.db.session() as s:
        [run] = s.scalars(sa.select(JobRun).where(JobRun.kind == "webhook_pull")).all()
        assert run.status == "succeeded" and run.counts["remote_changed"] == 1
        snapshot = s.scalar(sa.select(RemoteRecord.changed_at).where(RemoteRecord.remote_id == rid))
        assert s.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)
                        .where(WebhookEvent.processed_at.is_(None))) == 0
    audit = w.audit_rows()

    assert w.sim.webhooks.redeliver(times=3) == [200, 200, 200]
    _settle(w)

    assert w.sim.stats.get("GET Contacts", 0) == gets + 1
    with w.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(JobRun).where(JobRun.kind == "webhook_pull")) == 1
        assert s.scalar(sa.select(RemoteRecord.changed_at).where(RemoteRecord.remote_id == rid)) == snapshot
    assert w.audit_rows() == audit


def test_the_webhook_for_our_own_write_comes_back_as_no_change(hooked: SyncWorld) -> None:
    w = hooked
    local_id, rid = next(iter(w.pairs.items()))
    w.edit_local(local_id, email="pushed.by.us@example.test")
    pushed = run_sync(w.ctx, w.tenant, "xero")
    assert pushed.counts["updated"] == 1, (pushed.message, pushed.records)
    writes, audit = w.remote_writes(), w.audit_rows()
    _settle(w)  # Xero tells us about our own update; the pull it queues (if the tenant was free) finds nothing
    with w.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)) == 1
    after = run_sync(w.ctx, w.tenant, "xero")  # and any event left for the next pull is covered by it
    assert after.counts["updated"] == 0
    with w.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)
                        .where(WebhookEvent.processed_at.is_(None))) == 0
        runs = s.scalars(sa.select(JobRun).where(JobRun.kind == "webhook_pull")).all()
        assert all(r.status == "succeeded" and r.counts.get("remote_changed", 0) == 0 for r in runs)
    assert w.remote_writes() == writes and w.audit_rows() == audit
