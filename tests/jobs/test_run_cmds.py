"""`syncworker run | clock | worker` as real processes: the embedded default on SQLite, the Procfile's
clock + worker on PostgreSQL, clean stops on SIGTERM, and clear refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from syncworker.cli.run_cmds import clock, worker
from syncworker.store.crypto import generate_key
from syncworker.store.db import Database
from syncworker.store.models import JobRun
from tests.conftest import PG_URL
from tests.jobs.conftest import connect

ROOT = Path(__file__).resolve().parents[2]
# Registers the run commands on the root group if the lead has not yet (then it is plain `syncworker`).
BOOT = ("from syncworker.cli.main import cli; from syncworker.cli.run_cmds import commands\n"
        "[cli.add_command(c) for c in commands if c.name not in cli.commands]\ncli(prog_name='syncworker')")
NO_CREDENTIALS = "no Xero credentials for this tenant; run `syncworker connect`"


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    return os.environ | {
        "DATABASE_URL": database_url, "SYNCWORKER_SECRET_KEY": generate_key(), "SYNCWORKER_LOG_FORMAT": "json",
        "SYNCWORKER_XERO_CLIENT_ID": "fake-client", "SYNCWORKER_XERO_CLIENT_SECRET": "fake-secret",
        "SYNCWORKER_SCHEDULE_LINK_RUN": "0 2 * * *", "SYNCWORKER_SCHEDULE_SYNC": "*/15 * * * *",
    } | extra


def syncworker(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BOOT, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@contextmanager
def process(*args: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", BOOT, *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def wait_for(check: Callable[[], bool], timeout: float = 240) -> None:  # a hang only: start-up is 30 s under load
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def runs(db: Database) -> list[JobRun]:
    with db.session() as s:
        return list(s.scalars(select(JobRun).order_by(JobRun.id)))


def test_run_once_on_sqlite_fires_the_missed_jobs_once(sqlite_db: Database) -> None:
    connect(sqlite_db, "Harbour Accounting", since=timedelta(days=1))  # connected, but no credentials stored
    env = env_for(sqlite_db.url)

    done = syncworker("run", "--once", "--json", env=env)
    assert done.returncode == 1, done.stderr  # its runs failed (no credentials): cron and CI must see it
    report = {r["kind"]: r for r in json.loads(done.stdout)}
    assert set(report) == {"link_run", "sync"}
    assert all(r["action"] == "submitted" and r["tenant"] == "Harbour Accounting" for r in report.values())
    assert report["link_run"]["status"] == "failed" and NO_CREDENTIALS in report["link_run"]["message"]
    assert report["sync"]["status"] in ("failed", "partial", "succeeded")  # finished, not left running
    assert [(r.kind, r.trigger) for r in runs(sqlite_db)] == [("link_run", "schedule"), ("sync", "schedule")]

    again = syncworker("run", "--once", env=env)  # a restart: the missed fires already ran
    assert (again.returncode, again.stdout.strip()) == (0, "nothing due")
    assert len(runs(sqlite_db)) == 2


def test_run_follows_the_schedules_until_sigterm_and_stops_cleanly(sqlite_db: Database) -> None:
    with process("run", env=env_for(sqlite_db.url)) as proc:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith("syncworker run: schedules") and "0 missed job(s)" in banner
        code, out, err = stop(proc)
    assert code == 0, err
    assert "stopping: waiting for running jobs to finish" in out


@pytest.mark.parametrize("command", [clock, worker])
def test_scale_out_commands_refuse_sqlite_with_a_clear_message(sqlite_db: Database, command: object) -> None:
    result = CliRunner().invoke(command, [], env=env_for(sqlite_db.url))  # type: ignore[arg-type]
    assert result.exit_code == 1
    assert f"`syncworker {command.name}` needs PostgreSQL" in result.output  # type: ignore[attr-defined]
    assert "use `syncworker run`" in result.output


@pytest.mark.postgres
def test_procfile_clock_and_worker_on_postgresql(pg_schema_factory: Callable[[], str]) -> None:
    db = Database(PG_URL, schema=pg_schema_factory())
    db.upgrade()  # the release phase; the queue's tables are left to clock/worker to install
    connect(db, "Harbour Accounting", since=timedelta(days=1))
    env = env_for(db.connect_url, SYNCWORKER_SCHEDULE_SYNC="")
    try:
        with process("clock", env=env) as clock_proc:
            wait_for(lambda: len(runs(db)) == 1)  # the missed nightly link run, deferred at start
            assert (runs(db)[0].status, runs(db)[0].progress.get("phase")) == ("queued", "queued")
            with process("worker", "--concurrency", "2", env=env) as worker_proc:
                wait_for(lambda: runs(db)[0].status not in ("queued", "running"))
                worker_code, _, worker_err = stop(worker_proc)
            clock_code, clock_out, clock_err = stop(clock_proc)
        [run] = runs(db)
    finally:
        db.dispose()
    assert (worker_code, clock_code) == (0, 0), (worker_err, clock_err)
    assert "1 missed job(s) submitted at start" in clock_out
    assert (run.kind, run.trigger, run.status) == ("link_run", "schedule", "failed")
    assert NO_CREDENTIALS in (run.message or "")
