"""An XPM simulator world whose adapter and services all run on the simulator's clock: the adapter's limiter,
backoff and token clock wait on it (waiting out XPM's 60 calls a minute costs no real time) and the services'
"now" (`ServiceContext.clock`: a tenant parked until tomorrow) reads it, so a test moves to the next day by
advancing it."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.base import ClientSystem
from adapters.ratelimit import Limits, RateLimiter
from adapters.xero_identity.tokens import TokenManager
from adapters.xpm.client import XpmClient
from simulators.xpm import XpmSimulator
from syncworker.config import Settings
from syncworker.services.connect import connect_with_refresh_token
from syncworker.services.context import ServiceContext
from syncworker.services.demo import settings_for_simulator
from syncworker.services.systems import token_store
from syncworker.services.tenants import add_tenant
from syncworker.store.db import Database


@dataclass
class ClockedXpm:
    sim: XpmSimulator
    page_size: int = 500
    limits: Limits = Limits()  # the adapter's limiter (per_day, write_reserve)

    def adapter(self, ctx: ServiceContext, tenant_id: int, system: str) -> ClientSystem:
        sim, clock = self.sim, self.sim.clock
        tokens = TokenManager(token_store(ctx, tenant_id, system), client_id=sim.client_id,
                              client_secret=sim.client_secret, identity_url=sim.identity_url, clock=clock.now,
                              sleep=clock.advance)
        limiter = RateLimiter(self.limits, clock=clock.elapsed, now=clock.now, sleep=clock.advance)
        return XpmClient(tokens, base_url=sim.base_url, limiter=limiter, sleep=clock.advance, clock=clock.now,
                         page_size=self.page_size)

    def context(self, db: Database, tenant: str) -> ServiceContext:
        """A connected tenant on this simulator, every clock the simulator's."""
        settings = settings_for_simulator(Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url}), self.sim)
        ctx = ServiceContext(db, settings, adapter_factory=self.adapter, clock=self.sim.clock.now)
        add_tenant(db, tenant)
        connect_with_refresh_token(ctx, tenant, "xpm", self.sim.issue_refresh_token())
        return ctx
