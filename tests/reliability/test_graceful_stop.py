"""`syncworker serve` stopped with SIGTERM (what systemd, Kubernetes and hosting platforms send) while a link
run it accepted is running: the run finishes inside the grace period, or is recorded as interrupted with its
tenant released when the grace runs out. Never left `running` with the tenant locked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from simulators.xpm import XpmSimulator
from syncworker.config import Settings
from syncworker.sample import generate_practice
from syncworker.services.connect import connect_with_refresh_token
from syncworker.services.context import ServiceContext
from syncworker.services.demo import settings_for_simulator
from syncworker.services.importer import import_clients
from syncworker.services.tenants import add_tenant
from syncworker.store.crypto import generate_key
from syncworker.store.db import Database
from syncworker.store.models import JobRun, RunLock
from tests.http.conftest import OPERATOR_TOKEN, STARTUP_DEADLINE, free_port

TENANT = "Stopping Practice"


@dataclass
class World:
    db: Database
    sim: XpmSimulator
    env: dict[str, str]
    log: Path


@pytest.fixture
def world(sqlite_db: Database, tmp_path: Path) -> Iterator[World]:
    practice = generate_practice(40, seed=23)
    key = generate_key()
    with XpmSimulator(practice=practice, seed=23) as sim:
        settings = settings_for_simulator(Settings.load(env={"SYNCWORKER_DATABASE_URL": sqlite_db.connect_url}),
                                          sim, secret_key=key)
        ctx = ServiceContext(sqlite_db, settings)  # first: its key seals the tax numbers imported
        add_tenant(sqlite_db, TENANT)
        import_clients(sqlite_db, TENANT, practice.write_local_csv(tmp_path / "clients.csv"))
        connect_with_refresh_token(ctx, TENANT, "xpm", sim.issue_refresh_token())
        env = {**os.environ, **sim.env(), "SYNCWORKER_DATABASE_URL": sqlite_db.connect_url,
               "SYNCWORKER_SECRET_KEY": key, "SYNCWORKER_OPERATOR_TOKEN": OPERATOR_TOKEN,
               "SYNCWORKER_LOG_FORMAT": "json"}
        env.pop("DATABASE_URL", None)
        yield World(sqlite_db, sim, env, tmp_path / "serve.log")


def serve(w: World, grace: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with w.log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "syncworker.cli.serve_cmds", "--port", str(port),
                                 "--grace", str(grace)], env=w.env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_DEADLINE
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, w.log.read_text()
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)


def start_link_run(w: World, url: str) -> int:
    r = httpx.post(f"{url}/runs", json={"tenant": TENANT, "kind": "link_run", "system": "xpm"},
                   headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}, timeout=10)
    assert r.status_code == 202, r.text
    run_id = int(r.json()["run_id"])
    deadline = time.monotonic() + 120  # a hang only: the run's thread is slow to start on a loaded machine
    while not (w.sim.stats.calls or w.sim.faults.fired):  # the run has started calling XPM
        assert time.monotonic() < deadline, w.log.read_text()
        time.sleep(0.05)
    return run_id


def outcome(db: Database, run_id: int) -> tuple[str, str | None, int]:
    with db.read() as s:
        run = s.get(JobRun, run_id)
        assert run is not None
        return run.status, run.message, len(s.scalars(select(RunLock)).all())


def test_sigterm_lets_an_accepted_run_finish_within_the_grace_period(world: World) -> None:
    world.sim.faults.inject("slow", times=2, delay=1.5)  # the run takes ~3 s
    proc, url = serve(world, grace=120)  # ample: what is tested is that the run finishes, not how fast
    run_id = start_link_run(world, url)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=180) == 0, world.log.read_text()
    status, message, leases = outcome(world.db, run_id)
    assert (status, leases) == ("succeeded", 0), (message, world.log.read_text()[-2000:])


def test_sigterm_past_the_grace_period_records_the_run_interrupted_and_frees_the_tenant(world: World) -> None:
    world.sim.faults.inject("slow", times=5, delay=20)
    proc, url = serve(world, grace=1)
    run_id = start_link_run(world, url)
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, world.log.read_text()
    assert time.monotonic() - started < 10
    status, message, leases = outcome(world.db, run_id)
    assert (status, leases) == ("failed", 0)
    assert message is not None and message.startswith("interrupted:")


def test_a_killed_link_run_frees_its_tenant_at_once_and_unblock_says_so(world: World) -> None:
    """SIGKILL leaves the lease behind, but its holder's process is gone: the next run takes over at once
    (not after the 5-minute TTL) and the dead run is closed as abandoned."""
    from syncworker.services.link_run import run_link_run
    from syncworker.services.locks import unblock_tenant

    world.sim.faults.inject("slow", times=3, delay=20)
    proc = subprocess.Popen([sys.executable, "-c", "from syncworker.cli.main import cli; cli()", "link-run",
                             "--tenant", TENANT, "--system", "xpm"], env=world.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + STARTUP_DEADLINE  # the CLI's start-up alone took 30 s at load 16 on 2 cores
    while outcome_leases(world.db) == 0:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    with world.db.read() as s:
        killed = s.scalar(select(JobRun.id).where(JobRun.status == "running"))
    assert unblock_tenant(world.db, TENANT, 300)["released_runs"] == [killed]
    status, message, leases = outcome(world.db, killed)
    assert (status, leases) == ("failed", 0) and message and message.startswith("abandoned")
    world.sim.faults.clear()
    settings = settings_for_simulator(Settings.load(env={"SYNCWORKER_DATABASE_URL": world.db.connect_url}),
                                      world.sim, secret_key=world.env["SYNCWORKER_SECRET_KEY"])
    assert run_link_run(ServiceContext(world.db, settings), TENANT, "xpm").status == "succeeded"


def outcome_leases(db: Database) -> int:
    with db.read() as s:
        return len(s.scalars(select(RunLock)).all())
