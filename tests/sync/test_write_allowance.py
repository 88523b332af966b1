"""A first sync that needs more writes than a day holds: it decides every pair, writes what the day allows
above the reserve kept for reads, says how many pushes wait and for about how many days, and the next days'
runs write the rest, each exactly once, without ever parking the tenant on the daily limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.ratelimit import Limits
from simulators.xpm import XpmSimulator
from syncworker.sample import generate_practice
from syncworker.services.importer import import_clients
from syncworker.services.link_run import run_link_run
from syncworker.services.sync_run import run_sync
from syncworker.store.db import Database
from tests.sync.clocked import ClockedXpm

pytestmark = pytest.mark.e2e
T = "Budget Practice"
DAY, RESERVE = 505, 500  # five calls a day, of which writes may take what is left above 500


def updates(sim: XpmSimulator) -> int:
    return sim.stats.calls.get("PUT client.api/update", 0)


def test_pushes_beyond_the_days_allowance_wait_for_the_next_days_and_are_made_once(sqlite_db: Database,
                                                                                   tmp_path: Path) -> None:
    practice = generate_practice(12, seed=9)
    with XpmSimulator(practice=practice, seed=9, day_limit=DAY) as sim:
        db = sqlite_db  # one database: the queue is plain links and bases, which every sync test covers on both
        ctx = ClockedXpm(sim, limits=Limits(per_day=DAY, write_reserve=RESERVE)).context(db, T)
        import_clients(db, T, practice.write_local_csv(tmp_path / "clients.csv"))
        assert run_link_run(ctx, T, "xpm").status == "succeeded"
        plan = run_sync(ctx, T, "xpm", dry_run=True)
        needed = sum(1 for r in plan.records if any(w["to"] == "remote" for w in r.get("would_write", [])))
        assert needed > DAY - RESERVE, "the practice needs more than a day of writes"

        first = run_sync(ctx, T, "xpm")  # day 1: link run 2 calls, dry run 1, 1 read; the 5th may write
        assert first.status == "succeeded", first.message
        made = updates(sim)
        assert 0 < made <= DAY - RESERVE
        assert first.counts["pushes_pending"] == needed - made
        assert f"{needed - made} pushes pending" in first.message and "days at the current budget" in first.message

        again = run_sync(ctx, T, "xpm")  # same day: the allowance is spent, reads only
        assert updates(sim) == made and again.counts["pushes_pending"] == needed - made
        assert again.api_calls["calls"] == 1

        days = 1
        while updates(sim) < needed:
            sim.clock.advance(86_400)
            days += 1
            report = run_sync(ctx, T, "xpm")
            assert report.status == "succeeded", report.message  # never parked by the daily limit
            assert report.api_calls.get("rate_limited_day", 0) == 0
            assert updates(sim) <= needed and days < 12
        assert "pushes_pending" not in report.counts and report.message is None
        sim.clock.advance(600)
        quiet = run_sync(ctx, T, "xpm")  # all written: nothing more to push, ever
        assert updates(sim) == needed and "pushes_pending" not in quiet.counts
        leftover = run_sync(ctx, T, "xpm", dry_run=True)
        assert not any(w["to"] == "remote" for r in leftover.records for w in r.get("would_write", []))
