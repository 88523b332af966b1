"""The scheduler: what is due comes from the run history in the database, so a fire missed while nothing
ran is caught up once, a fire already submitted is not submitted again, and a busy tenant is skipped."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, update

from syncworker.jobs.base import JobRequest, prepare
from syncworker.jobs.inprocess import InProcessExecutor
from syncworker.jobs.scheduler import JobScheduler, ScheduleError, next_fire_after, parse_schedules
from syncworker.services.context import ServiceContext
from syncworker.services.locks import TenantLock
from syncworker.services.runs import RunRecorder
from syncworker.store.db import Database
from syncworker.store.models import JobRun
from syncworker.store.types import utcnow
from tests.jobs import probe
from tests.jobs.conftest import connect, services


class RecordingExecutor:
    """Creates the run as every executor does, records the request, and finishes the run at once."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx, self.requests = ctx, []

    def submit(self, request: JobRequest) -> int:
        run_id = prepare(self.ctx, request)
        self.requests.append(request)
        RunRecorder(self.ctx.db).finish(run_id, "succeeded")
        return run_id

    def shutdown(self, wait: bool = True) -> None:
        pass


def test_missed_fires_run_once_at_start_then_follow_the_schedule(db: Database) -> None:
    # The helpers stamp connections and runs with the real clock, so the scheduler's clock starts there too
    # and every expectation is derived from it: the test holds on any date, at any hour.
    now = datetime.now(UTC)
    connect(db, "Down For Days", "xpm", since=timedelta(days=3))  # three nightly fires missed
    connect(db, "Gone", "xpm", status="disconnected")
    ctx = services(db, link_run="0 2 * * *", sync="")  # empty: sync disabled
    executor = RecordingExecutor(ctx)
    clock = [now]
    scheduler = JobScheduler(ctx, executor, clock=lambda: clock[0])
    nightly = CronTrigger.from_crontab("0 2 * * *", timezone=UTC)
    first_missed = next_fire_after(nightly, now - timedelta(days=3, seconds=5))
    next_fire = next_fire_after(nightly, now)

    first = scheduler.submit_due()
    assert [(o.kind, o.tenant, o.system, o.action) for o in first] == [("link_run", "Down For Days", "xpm", "submitted")]
    req = executor.requests[0]
    assert req.trigger == "schedule" and req.params["system"] == "xpm"
    assert req.params["scheduled_for"] == first_missed.isoformat()  # the first fire it missed, not the last
    assert first_missed < now - timedelta(days=2)

    assert scheduler.submit_due() == []  # a restart a moment later: already done, not again
    clock[0] = next_fire - timedelta(minutes=1)
    assert scheduler.submit_due() == []  # no fire since
    clock[0] = next_fire + timedelta(minutes=1)
    assert [o.action for o in scheduler.submit_due()] == ["submitted"]  # the next 02:00
    assert len(executor.requests) == 2


def test_a_connection_made_after_the_last_fire_waits_for_the_next(sqlite_db: Database) -> None:
    connect(sqlite_db, "New Practice", since=timedelta(minutes=5))
    # The nightly fire is put twelve hours away from now: a fixed "0 2 * * *" made this test fail whenever it
    # ran in the five minutes after 02:00 UTC, when that fire fell after the connection.
    ctx = services(sqlite_db, link_run=f"0 {(datetime.now(UTC).hour + 12) % 24} * * *")
    scheduler = JobScheduler(ctx, RecordingExecutor(ctx), clock=lambda: datetime.now(UTC))
    assert scheduler.submit_due() == []


def test_busy_tenant_is_skipped_with_the_reason(sqlite_db: Database) -> None:
    tenant_id = connect(sqlite_db, "Busy Practice")
    ctx = services(sqlite_db, sync="*/15 * * * *")
    other = RunRecorder(sqlite_db).start("link_run", tenant_id=tenant_id, trigger="cli", system="xpm")
    with TenantLock(sqlite_db, tenant_id, run_id=other):  # a run from elsewhere (CLI, another process) holds it
        executor = InProcessExecutor(ctx)
        outcomes = JobScheduler(ctx, executor, skip_busy=False).submit_due()
        executor.shutdown()
    assert [o.action for o in outcomes] == ["skipped"]
    assert f"already has a run in progress (run {other})" in (outcomes[0].reason or "")


# A trigger that never fires by itself while a test runs (its one fire is on the last day of year 9999) and a
# scheduler clock past that fire: every fire the test makes finds the tenant due, so what a fire does depends
# only on whether the tenant is busy, never on the date, the time of day or the speed of the machine.
FIRED_BY_THE_TEST = CronTrigger(year=9999, month=12, day=31, hour=0, timezone=UTC)
PAST_ITS_FIRE = datetime(9999, 12, 31, 12, tzinfo=UTC)


def fire(scheduler: JobScheduler, kind: str) -> None:
    """Make APScheduler fire `kind`'s job now, through its own loop and thread pool, and wait until it ran."""
    aps = scheduler._scheduler  # what start() built
    assert aps is not None and aps.running
    ran = threading.Event()

    def listener(event: JobExecutionEvent) -> None:
        if event.job_id == f"schedule:{kind}":
            ran.set()

    aps.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    try:
        aps.modify_job(f"schedule:{kind}", next_run_time=datetime.now(UTC))
        aps.wakeup()
        assert ran.wait(30), "APScheduler did not run the fired job"
    finally:
        aps.remove_listener(listener)


def test_apscheduler_fires_submit_what_is_due_and_skip_a_busy_tenant(
    sqlite_db: Database, probe_jobs: None,
) -> None:
    connect(sqlite_db, "Alpha", since=timedelta(seconds=30))
    ctx = services(sqlite_db)
    executor = InProcessExecutor(ctx, workers=4)
    probe.holds["Alpha"] = threading.Event()  # Alpha's runs last until the test says
    scheduler = JobScheduler(ctx, executor, {"link_run": FIRED_BY_THE_TEST}, clock=lambda: PAST_ITS_FIRE)
    try:
        caught_up = scheduler.start()  # the fire missed since Alpha connected, at start
        assert [o.action for o in caught_up] == ["submitted"]
        fire(scheduler, "link_run")  # while that run lasts, a fire finds Alpha busy
        skipped = scheduler.history[-1]
        assert (skipped.action, skipped.tenant) == ("skipped", "Alpha") and "busy" in (skipped.reason or "")
        probe.holds["Alpha"].set()
        executor.futures[caught_up[0].run_id].result(timeout=30)  # type: ignore[index]
        fire(scheduler, "link_run")  # free again: the next fire submits
        assert scheduler.history[-1].action == "submitted"
    finally:
        probe.holds["Alpha"].set()
        scheduler.shutdown()
        executor.shutdown(wait=True)
    assert [o.action for o in scheduler.history] == ["submitted", "skipped", "submitted"]
    runs = sorted(probe.intervals, key=lambda r: r["start"])
    assert len(runs) == 2 and not probe.overlaps(runs[0], runs[1])


def test_invalid_schedules_are_refused_with_the_setting_name() -> None:
    with pytest.raises(ScheduleError, match="schedules.link_run"):
        parse_schedules({"link_run": "61 * * * *"})
    with pytest.raises(ScheduleError, match="schedules.backup"):
        parse_schedules({"backup": "0 * * * *"})
    assert set(parse_schedules({"link_run": "0 2 * * *", "sync": ""})) == {"link_run"}


def test_runs_waiting_in_the_in_process_pool_are_kept_alive_not_reaped(
    sqlite_db: Database, probe_jobs: None,
) -> None:
    connect(sqlite_db, "Alpha")
    connect(sqlite_db, "Beta")
    ctx = services(sqlite_db)
    executor = InProcessExecutor(ctx, workers=1)  # Beta's run waits while Alpha's runs
    probe.holds["Alpha"] = threading.Event()  # Alpha's run lasts until the test says
    executor.submit(JobRequest("probe", "Alpha", {"system": "xpm"}))
    waiting = executor.submit(JobRequest("probe", "Beta", {"system": "xpm", "sleep": 0}))
    with sqlite_db.session() as s:
        s.execute(update(JobRun).where(JobRun.id == waiting).values(heartbeat_at=utcnow() - timedelta(hours=1)))
    scheduler = JobScheduler(ctx, executor, {})
    try:
        assert scheduler.keep_pending_alive() == 2
        assert RunRecorder(sqlite_db).reap_abandoned(ctx.settings.lock_ttl_seconds) == []
    finally:
        probe.holds["Alpha"].set()
    executor.shutdown(wait=True)
    with sqlite_db.session() as s:
        assert s.scalar(select(JobRun.status).where(JobRun.id == waiting)) == "succeeded"
