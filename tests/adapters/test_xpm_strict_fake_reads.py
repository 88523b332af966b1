"""Against an XPM written from the public docs (tests/adapters/xpm_strict_fake.py, not our simulator), the real
sync reads a few calls a run whatever the practice's size: a sync with no edits and a sync after 10 edits
cost the same at 12 and at 120 clients (ten times as many), and nothing undocumented is ever asked. (The
first sync merges every pair once, which is what keeps the sizes small here; `benchmarks/api_budget.py` runs
the same jobs at 1,000 to 15,000 clients against our simulator.)"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import responses
import sqlalchemy as sa

from adapters.base import ClientSystem, TokenSet
from adapters.xpm.client import XpmClient
from syncworker.config import Settings
from syncworker.services.context import ServiceContext
from syncworker.services.sync_run import run_sync
from syncworker.services.systems import token_store
from syncworker.services.tenants import add_tenant
from syncworker.store.crypto import generate_key
from syncworker.store.db import Database
from syncworker.store.mapping import client_columns
from syncworker.store.models import Client, Link, Tenant
from tests.adapters.xpm.xpm_fakes import StaticTokens
from tests.adapters.xpm_strict_fake import BASE, StrictXpm

T = "Docs Practice"
EDITS = 10


def practice(n: int) -> StrictXpm:
    fake = StrictXpm()
    group = str(uuidlib.UUID(int=n, version=4))
    fake.groups[group] = "Family group"
    for i in range(n):
        c = fake.add_client(str(uuidlib.UUID(int=10_000 + i, version=4)), Name=f"Client {i:04d} Pty Ltd",
                            Email=f"office{i}@example.test", Phone=f"02 9{i:03d} 0000", City="Sydney",
                            Region="NSW", PostCode="2000", BusinessStructure="Company")
        if i % 10 == 0:
            c.groups.append(group)
    return fake


def sync_world(db: Database, fake: StrictXpm) -> ServiceContext:
    """A connected tenant whose local clients equal the fake's records, each linked."""
    settings = replace(Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url}), secret_key=generate_key())

    def adapter(ctx: ServiceContext, tenant_id: int, system: str) -> ClientSystem:
        return XpmClient(StaticTokens(), base_url=BASE, sleep=lambda s: None, clock=lambda: fake.now)  # type: ignore[arg-type]

    ctx = ServiceContext(db, settings, adapter_factory=adapter)
    with db.session() as s:
        tenant_id = s.scalar(sa.select(Tenant.id).where(Tenant.name == T))
    token_store(ctx, tenant_id, "xpm").compare_and_swap(0, TokenSet(
        access_token="access-1", refresh_token="refresh-1", expires_at=datetime(2100, 1, 1, tzinfo=UTC),
        remote_tenant_id="2f7d4c1e-0000-4000-8000-00000000a001"))
    profiles = [p for page in adapter(ctx, tenant_id, "xpm").iter_client_pages() for p in page.items]
    with db.session() as s:
        for i, p in enumerate(profiles):
            client = Client(tenant_id=tenant_id, external_id=f"L{i:04d}", other_emails=[],
                            **{**client_columns(p), "tax_number": None})
            s.add(client)
            s.flush()
            s.add(Link(tenant_id=tenant_id, system="xpm", client_id=client.id, remote_id=p.id, status="linked",
                       method="manual", reasons=[]))
    fake.calls.clear()
    return ctx


def reads_per_sync(db: Database, n: int) -> tuple[int, int, int]:
    fake = practice(n)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        add_tenant(db, T)
        ctx = sync_world(db, fake)
        first = run_sync(ctx, T, "xpm")
        assert first.status == "succeeded", (first.message, first.errors[:2])
        first_reads = fake.reads()
        fake.tick(600)
        before = fake.reads()
        assert run_sync(ctx, T, "xpm").status == "succeeded"
        quiet = fake.reads() - before
        for uid in list(fake.clients)[:EDITS]:
            fake.edit(uid, Phone="02 9333 0000")
        fake.tick(600)
        before = fake.reads()
        edited = run_sync(ctx, T, "xpm")
        assert edited.status == "succeeded" and edited.counts["updated"] == EDITS, edited.counts
        after_edits = fake.reads() - before
    assert fake.rejected == [], fake.rejected
    assert not any(k.startswith(("PUT", "POST")) for k in fake.calls), fake.calls  # nothing to write
    return first_reads, quiet, after_edits


@pytest.fixture
def two_dbs(tmp_path) -> Iterator[tuple[Database, Database]]:  # noqa: ANN001
    dbs = (Database(f"sqlite:///{tmp_path}/small.db"), Database(f"sqlite:///{tmp_path}/large.db"))
    for db in dbs:
        db.upgrade()
    yield dbs
    for db in dbs:
        db.dispose()


def test_reads_per_sync_do_not_grow_with_the_practice(two_dbs: tuple[Database, Database]) -> None:
    small, large = reads_per_sync(two_dbs[0], 12), reads_per_sync(two_dbs[1], 120)
    assert small == large, (small, large)
    first, quiet, after_edits = large
    assert quiet == 1 and after_edits <= 2 and first <= 2
