"""A practice on the XPM simulator, wired the way tests and benchmarks need it: the production adapter with its
waits (limiter, retry backoff, token clock) on the simulator's clock, so XPM's per-minute limits hold (server and
client side) without real minutes passing; the practice's clients imported locally and the tenant connected."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from adapters.base import ClientSystem
from adapters.ratelimit import Limits, RateLimiter
from adapters.xero_identity.tokens import TokenManager
from adapters.xpm.client import XpmClient
from simulators.xpm import XpmSimulator
from syncworker.config import Settings
from syncworker.sample import SamplePractice
from syncworker.services.connect import connect_with_refresh_token
from syncworker.services.context import AdapterFactory, ServiceContext
from syncworker.services.demo import settings_for_simulator
from syncworker.services.importer import import_clients, import_contacts
from syncworker.services.systems import token_store
from syncworker.services.tenants import add_tenant
from syncworker.store.db import Database


def on_simulator_clock(sim: XpmSimulator, *, page_size: int = 500, limits: Limits | None = None) -> AdapterFactory:
    """An adapter factory whose rate-limit and retry waits advance the simulator's clock instead of sleeping."""
    clock = sim.clock

    def factory(ctx: ServiceContext, tenant_id: int, system: str) -> ClientSystem:
        tokens = TokenManager(token_store(ctx, tenant_id, system), client_id=sim.client_id,
                              client_secret=sim.client_secret, identity_url=sim.identity_url, clock=clock.now,
                              sleep=clock.advance)
        limiter = RateLimiter(limits or Limits(), clock=clock.elapsed, now=clock.now, sleep=clock.advance)
        return XpmClient(tokens, base_url=sim.base_url, limiter=limiter, sleep=clock.advance, clock=clock.now,
                         page_size=page_size)

    return factory


def clocked_context(db: Database, sim: XpmSimulator, env: Mapping[str, str] | None = None, *, page_size: int = 500,
                    limits: Limits | None = None, services_too: bool = False) -> ServiceContext:
    """A context on `db` whose settings point at `sim` and whose XPM adapters run on the simulator's clock; with
    `services_too` the services' "now" (`ServiceContext.clock`: a tenant parked until tomorrow) reads it as well,
    so a test moves to the next day by advancing it."""
    settings = settings_for_simulator(Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url, **(env or {})}),
                                      sim)
    factory = on_simulator_clock(sim, page_size=page_size, limits=limits)
    if services_too:
        return ServiceContext(db, settings, adapter_factory=factory, clock=sim.clock.now)
    return ServiceContext(db, settings, adapter_factory=factory)


def connect_practice(ctx: ServiceContext, sim: XpmSimulator, tenant: str, practice: SamplePractice, folder: Path,
                     *, contacts: bool = False) -> None:
    """Add `tenant`, import the practice's local clients (and contacts) from CSV files in `folder`, connect it."""
    add_tenant(ctx.db, tenant)
    import_clients(ctx.db, tenant, practice.write_local_csv(folder / "clients.csv"))
    if contacts:
        import_contacts(ctx.db, tenant, practice.write_local_contacts_csv(folder / "contacts.csv"))
    connect_with_refresh_token(ctx, tenant, "xpm", sim.issue_refresh_token())
