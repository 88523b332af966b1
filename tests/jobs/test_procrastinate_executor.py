"""The scale-out executor on a real PostgreSQL with real Procrastinate workers, in a schema of its own
(the queue's tables included), so parallel test runs never share a queue."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta

import httpx
import procrastinate
import pytest
from sqlalchemy import select, update

from syncworker.cli.serve_cmds import _scale_out
from syncworker.config import Settings
from syncworker.http.app import create_app
from syncworker.jobs.base import JobRejected, JobRequest
from syncworker.jobs.procrastinate_executor import (
    RUN_JOB,
    ProcrastinateExecutor,
    install_schema,
    installed_schema_version,
    make_app,
    refresh_queued_runs,
)
from syncworker.jobs.scheduler import JobScheduler
from syncworker.services.context import ServiceContext
from syncworker.store.db import Database
from syncworker.store.models import JobRun
from syncworker.store.types import utcnow
from tests.conftest import PG_URL
from tests.http.conftest import OPERATOR_TOKEN, serving
from tests.jobs import probe
from tests.jobs.conftest import connect, services

pytestmark = pytest.mark.postgres


@pytest.fixture
def queue_db(pg_schema_factory: Callable[[], str]) -> Iterator[Database]:
    db = Database(PG_URL, schema=pg_schema_factory())
    db.upgrade()
    assert install_schema(db) is True
    yield db
    db.dispose()


@contextmanager
def running_worker(db: Database, ctx: ServiceContext, concurrency: int) -> Iterator[None]:
    """A real Procrastinate worker on its own event loop in a thread, stopped (gracefully) on exit."""
    app = make_app(db, pool_size=concurrency + 2)
    stop, failed = threading.Event(), []

    async def main() -> None:
        async with app.open_async():
            task = asyncio.create_task(app.run_worker_async(
                concurrency=concurrency, install_signal_handlers=False, fetch_job_polling_interval=0.1,
                additional_context={"services": ctx}))
            while not stop.is_set() and not task.done():
                await asyncio.sleep(0.05)
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            failed.append(exc)

    thread = threading.Thread(target=target, name="procrastinate-worker")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=20)
        assert not failed, failed


def wait_finished(db: Database, run_ids: list[int], timeout: float = 120) -> dict[int, JobRun]:  # a hang only
    deadline = time.monotonic() + timeout
    while True:
        with db.session() as s:
            runs = {r.id: r for r in s.scalars(select(JobRun).where(JobRun.id.in_(run_ids)))}
        if all(r.status not in ("queued", "running") for r in runs.values()) or time.monotonic() > deadline:
            return runs
        time.sleep(0.1)


def queue_rows(db: Database) -> list[tuple[str, str, int]]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT status, queueing_lock, attempts FROM procrastinate_jobs WHERE task_name = %s ORDER BY id",
            (RUN_JOB,))]


def test_a_tenants_jobs_never_overlap_across_worker_slots_but_tenants_run_in_parallel(
    queue_db: Database, probe_jobs: None,
) -> None:
    for name in ("Alpha", "Beta"):
        connect(queue_db, name)
    ctx = services(queue_db)
    executor = ProcrastinateExecutor(ctx)
    # 3 s jobs: on a loaded machine the worker may take a second or more to start the next slot, and beta must
    # still start while alpha_1 runs for the overlap to show that tenants do not wait on each other.
    ids = [executor.submit(JobRequest("probe", tenant, {"system": system, "sleep": 3.0}))
           for tenant, system in (("Alpha", "xpm"), ("Alpha", "xero"), ("Beta", "xpm"))]
    executor.shutdown()

    with running_worker(queue_db, ctx, concurrency=3):
        runs = wait_finished(queue_db, ids)
    assert {r.status for r in runs.values()} == {"succeeded"}, {r.id: (r.status, r.message) for r in runs.values()}
    by = {(i["tenant"], i["system"]): i for i in probe.intervals}
    alpha_1, alpha_2, beta = by[("Alpha", "xpm")], by[("Alpha", "xero")], by[("Beta", "xpm")]
    assert not probe.overlaps(alpha_1, alpha_2)  # three free slots, yet the tenant lock kept them apart
    assert alpha_1["end"] <= alpha_2["start"]  # in the order they were queued
    assert probe.overlaps(beta, alpha_1)  # another tenant did not wait
    assert [r[0] for r in queue_rows(queue_db)] == ["succeeded"] * 3


def test_a_duplicate_waiting_job_is_skipped_and_its_run_recorded(queue_db: Database, probe_jobs: None) -> None:
    connect(queue_db, "Alpha")
    ctx = services(queue_db)
    executor = ProcrastinateExecutor(ctx)
    first = executor.submit(JobRequest("probe", "Alpha", {"system": "xpm"}))
    with pytest.raises(JobRejected, match="already waiting in the queue") as refused:
        executor.submit(JobRequest("probe", "Alpha", {"system": "xpm"}))
    assert refused.value.busy_run_id == first  # the run that waits instead (HTTP: 409 naming it)
    other_kind = executor.submit(JobRequest("link_run", "Alpha", {"system": "xpm"}))  # another kind may wait too
    executor.shutdown()
    with queue_db.session() as s:
        runs = list(s.scalars(select(JobRun).order_by(JobRun.id)))
    # Deferred runs are queued (nothing ran: no worker); the duplicate is skipped, not failed.
    assert [(r.id, r.status) for r in runs] == [(first, "queued"), (first + 1, "skipped"), (other_kind, "queued")]
    assert runs[1].message and runs[1].message.startswith("skipped: a probe (xpm) for tenant 'Alpha'")
    assert [r[1] for r in queue_rows(queue_db)] == ["probe:Alpha:xpm", "link_run:Alpha:xpm"]
    assert probe.intervals == []


def test_a_queued_run_is_running_once_a_worker_picks_it_up(queue_db: Database, probe_jobs: None) -> None:
    connect(queue_db, "Alpha")
    ctx = services(queue_db)
    executor = ProcrastinateExecutor(ctx)
    run_id = executor.submit(JobRequest("probe", "Alpha", {"system": "xpm", "sleep": 0.5}))
    executor.shutdown()
    seen: set[str] = set()
    with running_worker(queue_db, ctx, concurrency=1):
        deadline = time.monotonic() + 120  # a hang only
        while time.monotonic() < deadline and not seen & {"succeeded", "failed"}:
            with queue_db.session() as s:
                seen.add(s.scalar(select(JobRun.status).where(JobRun.id == run_id)) or "")
            time.sleep(0.05)
    assert {"running", "succeeded"} <= seen, seen


def test_the_clock_defers_missed_fires_once_and_the_queue_refuses_a_second(
    queue_db: Database, probe_jobs: None,
) -> None:
    connect(queue_db, "Alpha", since=timedelta(days=2))
    ctx = services(queue_db, link_run="0 2 * * *")
    executor = ProcrastinateExecutor(ctx)
    clock = JobScheduler(ctx, executor, skip_busy=False)
    assert [o.action for o in clock.submit_due()] == ["submitted"]
    assert clock.submit_due() == []  # already deferred: the run row is the record of the fire
    executor.shutdown()
    assert len(queue_rows(queue_db)) == 1


def test_transient_failures_are_retried_and_others_fail_the_run_at_once(queue_db: Database, probe_jobs: None) -> None:
    connect(queue_db, "Alpha")
    connect(queue_db, "Beta")
    ctx = services(queue_db)
    executor = ProcrastinateExecutor(ctx)
    flaky = executor.submit(JobRequest("probe", "Alpha", {"system": "xpm", "fail_times": 1, "fail_with": "ConnectionError"}))
    broken = executor.submit(JobRequest("probe", "Beta", {"system": "xpm", "fail_times": 1, "fail_with": "ValueError"}))
    executor.shutdown()
    with running_worker(queue_db, ctx, concurrency=2):
        runs = wait_finished(queue_db, [flaky, broken])
    assert (runs[flaky].status, runs[flaky].counts) == ("succeeded", {"attempts": 2})  # retried after ~2 s
    assert runs[broken].status == "failed"
    assert runs[broken].message == "internal error after 1 attempt(s): ValueError: attempt 1 fails"
    assert sorted(queue_rows(queue_db)) == [("failed", "probe:Beta:xpm", 1), ("succeeded", "probe:Alpha:xpm", 2)]


def test_queued_runs_keep_heart_beating_so_they_are_not_reaped(queue_db: Database, probe_jobs: None) -> None:
    connect(queue_db, "Alpha")
    ctx = services(queue_db)
    executor = ProcrastinateExecutor(ctx)
    run_id = executor.submit(JobRequest("probe", "Alpha", {"system": "xpm"}))
    executor.shutdown()
    stale = utcnow() - timedelta(hours=1)
    with queue_db.session() as s:
        s.execute(update(JobRun).where(JobRun.id == run_id).values(heartbeat_at=stale))
    assert refresh_queued_runs(queue_db) == 1  # what the worker's periodic task does every minute
    with queue_db.session() as s:
        assert s.scalar(select(JobRun.heartbeat_at).where(JobRun.id == run_id)) > stale + timedelta(minutes=59)


def test_schema_install_is_idempotent_and_records_its_version(queue_db: Database) -> None:
    assert install_schema(queue_db) is False
    assert installed_schema_version(queue_db) == procrastinate.__version__


def test_serve_in_scale_out_only_defers(queue_db: Database, sqlite_db: Database) -> None:
    """`syncworker serve` on a database with the queue installed (what the Procfile's clock and workers do)
    defers: POST /runs answers at once and the run shows `queued`, nothing runs in the web process; a second
    one while it waits is skipped (409), not failed. On the embedded default it runs jobs itself, as before."""
    assert _scale_out(services(queue_db), "auto") and not _scale_out(services(sqlite_db), "auto")
    connect(queue_db, "Alpha")
    ctx = ServiceContext(queue_db, Settings(database_url=queue_db.url, operator_token=OPERATOR_TOKEN))
    executor = ProcrastinateExecutor(ctx)
    try:
        with serving(create_app(ctx, executor)) as url, \
                httpx.Client(base_url=url, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) as http:
            body = {"tenant": "Alpha", "kind": "link_run", "system": "xpm"}
            first = http.post("/runs", json=body)
            assert first.status_code == 202, first.text
            again = http.post("/runs", json=body)
            assert again.status_code == 409, again.text
            shown = http.get(first.json()["status_url"]).json()
    finally:
        executor.shutdown()
    assert shown["status"] == "queued"  # the tenant has no credentials: run here, it would have failed at once
    assert [r[0] for r in queue_rows(queue_db)] == ["todo"]
    with queue_db.session() as s:
        assert list(s.scalars(select(JobRun.status).order_by(JobRun.id))) == ["queued", "skipped"]
