"""Linked pairs against a simulator over real sockets, for sync tests: a tenant connected to the simulator,
one local client per remote record with the same values, and a `linked` Link for each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from adapters.ratelimit import reset_shared_limiters
from simulators.xero import XeroSimulator
from simulators.xpm import XpmSimulator
from syncworker.config import Settings
from syncworker.domain.profile import ClientProfile, ClientStatus
from syncworker.services.connect import connect_with_refresh_token
from syncworker.services.context import ServiceContext
from syncworker.services.demo import settings_for_simulator
from syncworker.services.tenants import add_tenant
from syncworker.store.crypto import generate_key
from syncworker.store.db import Database
from syncworker.store.mapping import client_columns
from syncworker.store.models import AuditEntry, Client, Link, Tenant

TENANT = "Harbour Accounting"


def _seed(base: int) -> int:
    """The world's data comes from `base` alone, so a test sees the same practice however pytest-xdist
    schedules it. The adapters' client-side rate limiters are shared per remote tenant id (derived from the
    seed) across the process, so a new world starts them afresh: one test's calls never count against the
    next one's per-minute budget."""
    reset_shared_limiters()
    return base


@dataclass
class SyncWorld:
    ctx: ServiceContext
    sim: Any  # XpmSimulator or XeroSimulator
    system: str
    pairs: dict[str, str]  # local external id -> remote id
    tenant: str = TENANT

    @property
    def db(self) -> Database:
        return self.ctx.db

    def remote_writes(self) -> int:
        if self.system == "xpm":
            return sum(v for k, v in self.sim.stats.calls.items() if k.startswith(("PUT", "POST")))
        return sum(v for k, v in self.sim.stats.items() if k.startswith(("PUT ", "POST ")))

    def audit_rows(self, **where: Any) -> int:
        with self.db.session() as s:
            q = sa.select(sa.func.count()).select_from(AuditEntry)
            for k, v in where.items():
                q = q.where(getattr(AuditEntry, k) == v)
            return s.scalar(q) or 0

    def local(self, external_id: str) -> Client:
        with self.db.session() as s:
            c = s.scalar(sa.select(Client).where(Client.external_id == external_id))
            assert c is not None
            s.expunge(c)
            return c

    def edit_local(self, external_id: str, **cols: Any) -> None:
        with self.db.session() as s:
            c = s.scalar(sa.select(Client).where(Client.external_id == external_id))
            for k, v in cols.items():
                setattr(c, k, v)

    def remote(self, remote_id: str) -> ClientProfile:
        p = self.ctx.adapter(self.tenant_id, self.system).get_client(remote_id)
        assert p is not None
        return p

    @property
    def tenant_id(self) -> int:
        with self.db.read() as s:  # a read: callers ask inside their own write transactions
            return s.scalar(sa.select(Tenant.id).where(Tenant.name == self.tenant))  # type: ignore[return-value]


def link_all(ctx: ServiceContext, system: str, profiles: list[ClientProfile], *, tenant: str = TENANT,
             prefix: str = "L") -> dict[str, str]:
    """One local client per profile, with its values, linked to it (external ids `<prefix>000`, ...)."""
    pairs: dict[str, str] = {}
    with ctx.db.session() as s:
        tenant_id = s.scalar(sa.select(Tenant.id).where(Tenant.name == tenant))
        for i, p in enumerate(sorted(profiles, key=lambda p: p.id)):
            cols = client_columns(p)
            cols["tax_number"] = None
            client = Client(tenant_id=tenant_id, external_id=f"{prefix}{i:03d}", other_emails=[], **cols)
            s.add(client)
            s.flush()
            s.add(Link(tenant_id=tenant_id, system=system, client_id=client.id, remote_id=p.id, status="linked",
                       method="manual", reasons=[]))
            pairs[client.external_id] = p.id
    return pairs


def _base_settings(db: Database) -> Settings:
    return Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url})


@contextmanager
def xpm_world(db: Database, clients: int = 12, seed: int = 5) -> Iterator[SyncWorld]:
    with XpmSimulator(clients=clients, seed=_seed(seed)) as sim:
        ctx = ServiceContext(db, settings_for_simulator(_base_settings(db), sim))
        add_tenant(db, TENANT)
        connect_with_refresh_token(ctx, TENANT, "xpm", sim.issue_refresh_token())
        world = SyncWorld(ctx, sim, "xpm", {})
        adapter = ctx.adapter(world.tenant_id, "xpm")
        # The detailed listing (the paged one leaves business numbers out), so both sides start equal.
        detailed = adapter.iter_client_pages(modified_since=datetime(2000, 1, 1, tzinfo=UTC))
        profiles = [p for page in detailed for p in page.items if p.status == ClientStatus.ACTIVE]
        world.pairs = link_all(ctx, "xpm", profiles)
        sim.stats.reset()
        yield world


def xero_settings(db: Database, sim: XeroSimulator) -> Settings:
    return replace(_base_settings(db), xero_identity_url=sim.identity_url, xero_api_url=sim.api_url,
                   xero_client_id=sim.identity.client_id, xero_client_secret=sim.identity.client_secret,
                   secret_key=generate_key())


@contextmanager
def xero_world(db: Database, contacts: int = 10, seed: int = 3, webhook_url: str | None = None) -> Iterator[SyncWorld]:
    with XeroSimulator(contacts=contacts, seed=_seed(seed), webhook_url=webhook_url) as sim:
        ctx = ServiceContext(db, xero_settings(db, sim))
        add_tenant(db, TENANT)
        connect_with_refresh_token(ctx, TENANT, "xero", sim.token_set().refresh_token)
        world = SyncWorld(ctx, sim, "xero", {})
        adapter = ctx.adapter(world.tenant_id, "xero")
        profiles = [p for page in adapter.iter_client_pages() for p in page.items if p.status == ClientStatus.ACTIVE]
        world.pairs = link_all(ctx, "xero", profiles)
        yield world
