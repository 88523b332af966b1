"""An XPM simulator world whose adapter and services all run on the simulator's clock: the adapter's limiter,
backoff and token clock wait on it (waiting out XPM's 60 calls a minute costs no real time) and the services'
"now" (`ServiceContext.clock`: a tenant parked until tomorrow) reads it, so a test moves to the next day by
advancing it."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.ratelimit import Limits
from simulators.xpm import XpmSimulator
from syncworker.services.connect import connect_with_refresh_token
from syncworker.services.context import ServiceContext
from syncworker.services.tenants import add_tenant
from syncworker.store.db import Database
from tests.simulated import clocked_context


@dataclass
class ClockedXpm:
    sim: XpmSimulator
    page_size: int = 500
    limits: Limits = Limits()  # the adapter's limiter (per_day, write_reserve)

    def context(self, db: Database, tenant: str) -> ServiceContext:
        """A connected tenant on this simulator, every clock the simulator's."""
        ctx = clocked_context(db, self.sim, page_size=self.page_size, limits=self.limits, services_too=True)
        add_tenant(db, tenant)
        connect_with_refresh_token(ctx, tenant, "xpm", self.sim.issue_refresh_token())
        return ctx
