"""The daily limit mid-load: a first load parks the tenant when XPM's day budget runs out and goes on from the
last stored page the next day. Time is the simulator's clock, injected into the adapter and the services, so
"the next day" is a clock moved by a day, not a cleared `paused_until`."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from simulators.xpm import XpmSimulator
from syncworker.sample import generate_practice
from syncworker.services.link_run import run_link_run
from syncworker.services.run_frame import RunRefused
from syncworker.store.db import Database
from syncworker.store.models import RemoteRecord, TenantSystem
from tests.sync.clocked import ClockedXpm

T = "Parked Practice"


def paged_calls(sim: XpmSimulator) -> int:
    return sim.stats.calls.get("GET client.api/paged-list", 0)


def test_a_load_parked_by_the_daily_limit_resumes_the_next_day_from_its_last_page(db: Database) -> None:
    practice = generate_practice(30, seed=5)
    with XpmSimulator(practice=practice, seed=5, day_limit=3) as sim:
        ctx = ClockedXpm(sim, page_size=10).context(db, T)
        active = {u for u, c in sim.store.clients.items() if not (c.is_archived or c.is_deleted)}
        total = len(active)
        # The detailed listing cannot finish: the fall-back reads paged-list, 10 clients a page.
        sim.faults.inject("malformed_xml", 1, "client.api/list")
        first = run_link_run(ctx, T, "xpm")  # cut listing + two pages = the day's 3 calls; the third page waits
        assert first.status == "partial" and "daily API limit" in (first.message or ""), first.message
        assert paged_calls(sim) == 2
        with db.read() as s:
            parked = s.scalar(sa.select(TenantSystem.paused_until))
            stored = s.scalar(sa.select(sa.func.count()).select_from(RemoteRecord))
        assert parked is not None and parked > sim.clock.now() and 0 < stored < total

        # Later the same day: refused without a call.
        sim.clock.advance(3600)
        calls = sum(sim.stats.calls.values())
        with pytest.raises(RunRefused, match="daily API limit reached"):
            run_link_run(ctx, T, "xpm")
        assert sum(sim.stats.calls.values()) == calls

        # The next day: the park is over on the same clock; the load goes on from the page it stopped at.
        sim.clock.advance(max((parked - sim.clock.now()).total_seconds(), 0) + timedelta(minutes=1).seconds)
        second = run_link_run(ctx, T, "xpm")
        assert second.status == "succeeded", (second.message, second.errors)
        assert paged_calls(sim) == 3  # page three only: no page is read twice
        with db.read() as s:
            assert active <= set(s.scalars(sa.select(RemoteRecord.remote_id)))  # paged-list lists the active ones
