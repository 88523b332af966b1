"""A tenant connected to a running XPM simulator over real sockets, with the matching local practice
imported: the starting point of link-run and sync end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.base import ClientSystem
from adapters.ratelimit import Limits, RateLimiter
from adapters.xero_identity.tokens import TokenManager
from adapters.xpm.client import XpmClient
from simulators.xpm import XpmSimulator
from syncworker.config import Settings
from syncworker.sample import SamplePractice, generate_practice
from syncworker.services.connect import connect_with_refresh_token
from syncworker.services.context import ServiceContext
from syncworker.services.demo import settings_for_simulator
from syncworker.services.importer import import_clients, import_contacts
from syncworker.services.systems import token_store
from syncworker.services.tenants import add_tenant
from syncworker.store.db import Database

TENANT = "Harbour Accounting"


@dataclass
class XpmWorld:
    ctx: ServiceContext
    sim: XpmSimulator
    practice: SamplePractice
    tenant: str = TENANT


def on_simulator_clock(sim: XpmSimulator):  # type: ignore[no-untyped-def]
    """An adapter factory whose rate-limit and retry waits advance the simulator's clock instead of
    sleeping: the real per-minute limits hold (server and client side), without real minutes passing."""
    clock = sim.clock

    def factory(ctx: ServiceContext, tenant_id: int, system: str) -> ClientSystem:
        tokens = TokenManager(token_store(ctx, tenant_id, system), client_id=sim.client_id,
                              client_secret=sim.client_secret, identity_url=sim.identity_url, clock=clock.now,
                              sleep=clock.advance)
        limiter = RateLimiter(Limits(), clock=clock.elapsed, now=clock.now, sleep=clock.advance)
        return XpmClient(tokens, base_url=sim.base_url, limiter=limiter, sleep=clock.advance, clock=clock.now)

    return factory


@pytest.fixture
def xpm_world(db: Database, tmp_path: Path) -> Iterator[XpmWorld]:
    practice = generate_practice(150, seed=11)
    with XpmSimulator(practice=practice, seed=11) as sim:
        settings = settings_for_simulator(Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url}), sim)
        ctx = ServiceContext(db, settings, adapter_factory=on_simulator_clock(sim))
        add_tenant(db, TENANT)
        import_clients(db, TENANT, practice.write_local_csv(tmp_path / "clients.csv"))
        import_contacts(db, TENANT, practice.write_local_contacts_csv(tmp_path / "contacts.csv"))
        connect_with_refresh_token(ctx, TENANT, "xpm", sim.issue_refresh_token())
        yield XpmWorld(ctx, sim, practice)
