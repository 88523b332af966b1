"""A scale-out worker killed with SIGKILL mid-job: its job stays `doing` and holds the tenant's queue lock
until the recovery pass (every minute on the workers) re-queues it, or, when the schedule already queued
the same job (its queueing lock is taken), fails it and closes its run so the waiting job runs next. Either
way the tenant's next job runs within a minute, never blocked for good."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from syncworker.jobs.base import JobRequest
from syncworker.jobs.procrastinate_executor import ProcrastinateExecutor, make_app, recover_stalled_jobs
from syncworker.store.db import Database
from syncworker.store.models import JobRun, RunLock
from tests.jobs.conftest import connect, services
from tests.jobs.test_procrastinate_executor import queue_db, queue_rows, running_worker, wait_finished  # noqa: F401

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import sys
from syncworker.config import Settings
from syncworker.jobs import base
from syncworker.jobs.procrastinate_executor import make_app
from syncworker.services.context import ServiceContext
from syncworker.store.db import Database
from tests.jobs import probe
base.JOBS["probe"] = probe.probe
db = Database(sys.argv[1], schema=sys.argv[2])
make_app(db).run_worker(concurrency=1, additional_context={"services": ServiceContext(db, Settings(database_url=db.url))})
"""


def start_worker(db: Database) -> subprocess.Popen[bytes]:
    assert db.schema is not None
    return subprocess.Popen([sys.executable, "-c", WORKER, db.url, db.schema], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(condition, timeout: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def kill_worker_mid_job(db: Database) -> int:
    """A long probe job started by a real worker process, which is then SIGKILLed. Returns its run id."""
    ctx = services(db)
    executor = ProcrastinateExecutor(ctx)
    run_id = executor.submit(JobRequest("probe", "Alpha", {"system": "xpm", "sleep": 120}))
    executor.shutdown()
    worker = start_worker(db)
    try:
        wait_for(lambda: [r[0] for r in queue_rows(db)] == ["doing"])
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    time.sleep(1.5)  # its last heartbeat is now older than the 1 s the recovery below allows
    return run_id


@pytest.mark.parametrize("same_job_waits", [True, False], ids=["same-job-waiting", "nothing-waiting"])
def test_a_killed_workers_tenant_runs_its_next_job_after_one_recovery_pass(
        queue_db: Database, probe_jobs: None, same_job_waits: bool) -> None:  # noqa: F811
    connect(queue_db, "Alpha")
    ctx = services(queue_db)
    killed = kill_worker_mid_job(queue_db)
    waiting = None
    if same_job_waits:  # what the 15-minute schedule does while a sync runs
        executor = ProcrastinateExecutor(ctx)
        waiting = executor.submit(JobRequest("probe", "Alpha", {"system": "xpm", "sleep": 0.1}))
        executor.shutdown()

    app = make_app(queue_db)

    async def recover() -> list[tuple[int, str]]:
        async with app.open_async():
            return await recover_stalled_jobs(app.job_manager, queue_db, 300, seconds_since_heartbeat=1)

    outcome = asyncio.run(recover())
    assert [o for _, o in outcome] == ["failed" if same_job_waits else "requeued"]
    if not same_job_waits:  # the re-queued job runs again from the start: quickly, this time
        with queue_db.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE procrastinate_jobs SET args = jsonb_set(args, '{request,params,sleep}', '0.1')")

    with running_worker(queue_db, ctx, concurrency=1):
        runs = wait_finished(queue_db, [r for r in (killed, waiting) if r is not None], timeout=90)
    if same_job_waits:
        assert runs[killed].status == "failed" and "worker died" in (runs[killed].message or "")
        assert runs[waiting].status == "succeeded"
    else:
        assert runs[killed].status == "succeeded"  # re-run from the start (the probe's "checkpoint")
    assert "doing" not in [r[0] for r in queue_rows(queue_db)]
    with queue_db.read() as s:
        assert s.scalars(select(RunLock)).all() == []
        assert s.scalar(select(JobRun.status).where(JobRun.id == killed)) != "running"
