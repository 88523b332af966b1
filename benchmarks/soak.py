"""Fault and crash soak, seeded and bounded: several tenants, each against its own XPM simulator injecting
faults at random (429 minute, 500, reset, slow, malformed XML, HTTP-200 errors), run `syncworker link-run`
and `syncworker sync` as real processes that are SIGKILLed or SIGTERMed at random moments and then rerun;
local edits wait to be pushed. After each round, with the faults off, it checks the simulators' write logs
and the database:

- lost: an edit the sync should have pushed that the remote record does not have;
- duplicated: a write (same record, same body) applied twice by the simulator;
- stuck runs: runs still `running` after the periodic reaper's pass; stuck tenants: leases still held.

    .venv/bin/python benchmarks/soak.py --rounds 4 --tenants 3 --seed 7            # SQLite (embedded)
    .venv/bin/python benchmarks/soak.py --database postgresql://127.0.0.1:5432/test  # PostgreSQL

A short version runs in the suite (tests/reliability/test_soak.py).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulators.xpm import XpmSimulator  # noqa: E402
from simulators.xpm import server as xpm_server  # noqa: E402
from syncworker.config import Settings  # noqa: E402
from syncworker.sample import generate_practice  # noqa: E402
from syncworker.services.connect import connect_with_refresh_token  # noqa: E402
from syncworker.services.context import ServiceContext  # noqa: E402
from syncworker.services.demo import settings_for_simulator  # noqa: E402
from syncworker.services.importer import import_clients  # noqa: E402
from syncworker.services.locks import reap_dead_leases  # noqa: E402
from syncworker.services.runs import RunRecorder  # noqa: E402
from syncworker.services.tenants import add_tenant  # noqa: E402
from syncworker.store.crypto import generate_key  # noqa: E402
from syncworker.store.db import Database  # noqa: E402
from syncworker.store.models import Client, JobRun, Link, RunLock, Tenant  # noqa: E402

FAULTS = ("minute_429", "500", "reset", "slow", "malformed_xml", "status_error")
CLI = "from syncworker.cli.main import cli; cli()"


class WriteLog:
    """Every non-GET call the simulators apply, with its outcome: wraps the simulators' dispatcher."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.applied: Counter[tuple[str, str, str]] = Counter()  # (simulator, path, body digest)
        original = xpm_server.api.dispatch

        def dispatch(ctx: Any, req: Any) -> Any:
            resp = original(ctx, req)
            if req.method != "GET" and 200 <= resp.status < 300:
                with self.lock:
                    self.applied[(ctx.base_url, req.path, hashlib.sha256(req.body or b"").hexdigest())] += 1
            return resp

        xpm_server.api.dispatch = dispatch

    def duplicated(self) -> int:
        with self.lock:
            return sum(n - 1 for n in self.applied.values() if n > 1)

    def total(self) -> int:
        with self.lock:
            return sum(self.applied.values())


@dataclass
class TenantWorld:
    name: str
    sim: XpmSimulator
    env: dict[str, str]
    edits: dict[int, str] = field(default_factory=dict)  # client row id -> phone that must reach XPM


@dataclass
class Totals:
    rounds: int = 0
    faults: int = 0
    kills: int = 0
    runs: int = 0
    writes_checked: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck_runs: int = 0
    stuck_tenants: int = 0
    failed_reruns: int = 0


def cli(world: TenantWorld, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", CLI, *args], env=world.env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def last_status(db: Database, world: TenantWorld, kind: str) -> str | None:
    with db.read() as s:
        return s.scalar(select(JobRun.status).join(Tenant, Tenant.id == JobRun.tenant_id).where(
            Tenant.name == world.name, JobRun.kind == kind).order_by(JobRun.id.desc()).limit(1))


def run_with_kills(db: Database, world: TenantWorld, args: list[str], rng: random.Random, totals: Totals) -> None:
    """Start the command; maybe kill it at a random moment; rerun (no kill) until a run succeeds outright
    (a `partial` run leaves records for the next one: faults keep coming)."""
    if rng.random() < 0.6:
        proc = cli(world, *args)
        time.sleep(rng.uniform(0.05, 2.0))
        if proc.poll() is None:
            proc.send_signal(rng.choice((signal.SIGKILL, signal.SIGTERM)))
            totals.kills += 1
        proc.wait()
        totals.runs += 1
    for attempt in range(10):
        if attempt == 3:  # the faults stop: the next clean run must converge with nothing lost or doubled
            world.sim.faults.random(0)
            world.sim.faults.clear()
        totals.runs += 1
        if cli(world, *args).wait(timeout=600) == 0 and \
                last_status(db, world, args[0].replace("-", "_")) == "succeeded":
            return
    totals.failed_reruns += 1


def edit_locally(db: Database, world: TenantWorld, rng: random.Random, round_no: int, n: int) -> None:
    with db.session() as s:
        tenant_id = s.scalar(select(Tenant.id).where(Tenant.name == world.name))
        # Clients without a mobile: for an individual with one, XPM's phone slot shows the mobile, so a
        # phone edit there is a mapping question, not a lost write.
        linked = list(s.scalars(select(Link.client_id).join(Client, Client.id == Link.client_id).where(
            Link.tenant_id == tenant_id, Link.status == "linked", Client.mobile.is_(None))))
        for client_id in rng.sample(linked, min(n, len(linked))):
            phone = f"02 9{round_no % 10}{rng.randrange(10**5, 10**6)}"
            client = s.get(Client, client_id)
            assert client is not None
            client.phone = phone
            world.edits[client_id] = phone


def tenant_round(db: Database, w: TenantWorld, rng: random.Random, round_no: int, totals: Totals) -> None:
    run_with_kills(db, w, ["link-run", "--tenant", w.name, "--system", "xpm"], rng, totals)
    edit_locally(db, w, rng, round_no, 5)
    run_with_kills(db, w, ["sync", "--tenant", w.name, "--system", "xpm"], rng, totals)


def check(db: Database, world: TenantWorld, settings: Settings, totals: Totals) -> None:
    world.sim.faults.random(0)
    world.sim.faults.clear()
    ctx = ServiceContext(db, settings_for_simulator(settings, world.sim, secret_key=world.env["SYNCWORKER_SECRET_KEY"]))
    with db.read() as s:
        tenant_id = s.scalar(select(Tenant.id).where(Tenant.name == world.name))
        remote_ids = dict(s.execute(select(Link.client_id, Link.remote_id).where(
            Link.tenant_id == tenant_id, Link.status == "linked", Link.system == "xpm")).all())
    adapter = ctx.adapter(tenant_id, "xpm")
    digits = lambda v: "".join(ch for ch in (v or "") if ch.isdigit())  # noqa: E731
    for client_id, phone in list(world.edits.items()):
        totals.writes_checked += 1
        remote = adapter.get_client(remote_ids[client_id]) if client_id in remote_ids else None
        if remote is None or digits(remote.phone) != digits(phone):
            totals.lost += 1
    world.edits.clear()


def soak(database: str | None, rounds: int, tenants: int, seed: int, clients: int, fault_rate: float,
         say: Any = print) -> Totals:
    rng = random.Random(seed)
    log = WriteLog()
    totals = Totals()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        if database:
            schema = f"soak_{uuid.uuid4().hex[:8]}"
            admin = Database(database)
            with admin.engine.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            db = Database(database, schema=schema)
        else:
            db = Database(f"sqlite:///{tmp}/soak.db")
        sims: list[XpmSimulator] = []
        worlds: list[TenantWorld] = []
        try:
            db.upgrade()
            key = generate_key()
            settings = Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url})
            for i in range(tenants):
                practice = generate_practice(clients, seed=seed * 100 + i)
                sim = XpmSimulator(practice=practice, seed=seed * 100 + i, slow_delay=0.3).__enter__()
                sims.append(sim)
                name = f"Soak Practice {i + 1}"
                add_tenant(db, name)
                import_clients(db, name, practice.write_local_csv(Path(tmp) / f"clients-{i}.csv"))
                connect_with_refresh_token(ServiceContext(db, settings_for_simulator(settings, sim, secret_key=key)),
                                           name, "xpm", sim.issue_refresh_token())
                env = {**os.environ, **sim.env(), "SYNCWORKER_DATABASE_URL": db.connect_url,
                       "SYNCWORKER_SECRET_KEY": key, "SYNCWORKER_LOG_FORMAT": "json", "SYNCWORKER_LOG_LEVEL": "ERROR"}
                env.pop("DATABASE_URL", None)
                worlds.append(TenantWorld(name, sim, env))
            for round_no in range(1, rounds + 1):
                for w in worlds:
                    w.sim.faults.random(fault_rate, FAULTS)
                threads = [threading.Thread(target=tenant_round, args=(db, w, random.Random(rng.random()), round_no,
                                                                     totals)) for w in worlds]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                totals.faults = sum(sum(s.faults.fired.values()) for s in sims)
                for w in worlds:
                    check(db, w, settings, totals)
                # The periodic reaper's pass (`syncworker run` every 30 s, the workers every minute).
                reap_dead_leases(db, settings.lock_ttl_seconds)
                RunRecorder(db).reap_abandoned(settings.lock_ttl_seconds)
                with db.read() as s:
                    totals.stuck_runs = len(s.scalars(select(JobRun.id).where(JobRun.status == "running")).all())
                    totals.stuck_tenants = len(s.scalars(select(RunLock.tenant_id)).all())
                totals.rounds = round_no
                totals.duplicated = log.duplicated()
                say(f"round {round_no}: {totals}")
        finally:
            for sim in sims:
                sim.__exit__(None, None, None)
            db.dispose()
            if database:
                with admin.engine.begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                admin.dispose()
    return totals


def table(label: str, t: Totals) -> str:
    head = ("database", "rounds", "faults", "kills", "runs", "writes checked", "lost", "duplicated",
            "stuck runs", "stuck tenants")
    row = (label, t.rounds, t.faults, t.kills, t.runs, t.writes_checked, t.lost, t.duplicated, t.stuck_runs,
           t.stuck_tenants)
    widths = [max(len(str(a)), len(str(b))) for a, b in zip(head, row, strict=True)]
    fmt = " | ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*row)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", help="PostgreSQL URL (default: SQLite in a temporary directory)")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--tenants", type=int, default=3)
    p.add_argument("--clients", type=int, default=60)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--fault-rate", type=float, default=0.08)
    a = p.parse_args()
    totals = soak(a.database, a.rounds, a.tenants, a.seed, a.clients, a.fault_rate)
    print(table("postgresql" if a.database else "sqlite", totals))
    if totals.failed_reruns:
        print(f"({totals.failed_reruns} command(s) never succeeded outright in 10 reruns)")


if __name__ == "__main__":
    main()
