"""Fault and crash soak, seeded and bounded: several tenants, each against its own XPM simulator injecting
faults at random (429 minute, 500, reset, slow, malformed XML, HTTP-200 errors), run `syncworker link-run`
and `syncworker sync` as real processes that are SIGKILLed or SIGTERMed at random moments and then rerun;
local edits wait to be pushed. After each round, with the faults off, it checks the simulators' write logs
and the database:

- lost: an edit the sync should have pushed that the remote record does not have;
- duplicated: a write (same record, same body) applied twice by the simulator;
- stuck runs: runs still `running` after the periodic reaper's pass; stuck tenants: leases still held
  (summed over rounds).

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
from syncworker.services.runs import LIVE, RunRecorder  # noqa: E402
from syncworker.services.tenants import add_tenant  # noqa: E402
from syncworker.store.crypto import generate_key  # noqa: E402
from syncworker.store.db import Database  # noqa: E402
from syncworker.store.models import Client, JobRun, Link, RunLock, Tenant  # noqa: E402

FAULTS = ("minute_429", "500", "reset", "slow", "malformed_xml", "status_error")
CLI = "from syncworker.cli.main import cli; cli()"


@dataclass
class Write:
    at: float
    sim: str
    method: str
    path: str
    digest: str
    body: bytes
    fault: str | None  # the fault the simulator applied to this call, if any
    by: str  # the command of the tenant's that was running (each tenant runs one command at a time)


class WriteLog:
    """Every non-GET call the simulators apply, with the fault applied to it and the command that sent it:
    wraps the simulators' dispatcher. `events` also holds the kills, so a duplicate can be explained."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.applied: Counter[tuple[str, str, str]] = Counter()  # (simulator, path, body digest)
        self.writes: list[Write] = []
        self.events: list[tuple[float, str, str]] = []  # (time, simulator, what happened)
        self.running: dict[str, str] = {}  # simulator base url -> the command running against it
        self.fault = threading.local()
        original = xpm_server.api.dispatch

        def dispatch(ctx: Any, req: Any) -> Any:
            resp = original(ctx, req)
            if req.method != "GET" and 200 <= resp.status < 300:
                digest = hashlib.sha256(req.body or b"").hexdigest()
                with self.lock:
                    self.applied[(ctx.base_url, req.path, digest)] += 1
                    self.writes.append(Write(time.monotonic(), ctx.base_url, req.method, req.path, digest,
                                             req.body or b"", getattr(self.fault, "kind", None),
                                             self.running.get(ctx.base_url, "?")))
            return resp

        xpm_server.api.dispatch = dispatch

    def watch(self, sim: XpmSimulator) -> None:
        """Note which fault the simulator takes for each call (the write's thread reads it back)."""
        take = sim.faults.take

        def noted(path: str, *, is_identity: bool = False) -> Any:
            fault = take(path, is_identity=is_identity)
            self.fault.kind = fault.kind if fault is not None else None
            return fault

        sim.faults.take = noted  # type: ignore[method-assign]

    def note(self, sim: XpmSimulator, what: str, running: str | None = None) -> None:
        with self.lock:
            self.events.append((time.monotonic(), sim.base_url, what))
            if running is not None:
                self.running[sim.base_url] = running

    def explain(self) -> list[str]:
        """Each write applied more than once, with every copy and what happened to its tenant between."""
        with self.lock:
            keys = [k for k, n in self.applied.items() if n > 1]
            out: list[str] = []
            for sim, path, digest in keys:
                copies = [w for w in self.writes if (w.sim, w.path, w.digest) == (sim, path, digest)]
                start, end = copies[0].at, copies[-1].at
                out.append(f"{path} applied {len(copies)} times: {copies[0].body[:300]!r}")
                timeline = [(w.at, f"write {w.method} {w.path} fault={w.fault} by {w.by}"
                             + (" <== this one" if w.digest == digest and w.path == path else ""))
                            for w in self.writes if w.sim == sim and start - 1 <= w.at <= end + 1]
                timeline += [(t, e) for t, s, e in self.events if s == sim and start - 5 <= t <= end + 1]
                out += [f"  {t - start:+8.3f}s {e}" for t, e in sorted(timeline)]
            return out

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
    log: WriteLog
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


LOG_DIR = os.environ.get("SOAK_LOG_DIR")  # keep each command's log (INFO, JSON) there, named by pid


def cli(world: TenantWorld, *args: str) -> subprocess.Popen[bytes]:
    if not LOG_DIR:
        return subprocess.Popen([sys.executable, "-c", CLI, *args], env=world.env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with tempfile.NamedTemporaryFile(dir=LOG_DIR, delete=False, suffix=".log") as out:
        proc = subprocess.Popen([sys.executable, "-c", CLI, *args], env={**world.env, "SYNCWORKER_LOG_LEVEL": "INFO"},
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    os.rename(out.name, Path(LOG_DIR) / f"{proc.pid}.log")
    return proc


def last_status(db: Database, world: TenantWorld, kind: str) -> str | None:
    with db.read() as s:
        return s.scalar(select(JobRun.status).join(Tenant, Tenant.id == JobRun.tenant_id).where(
            Tenant.name == world.name, JobRun.kind == kind).order_by(JobRun.id.desc()).limit(1))


def run_with_kills(db: Database, world: TenantWorld, args: list[str], rng: random.Random, totals: Totals) -> None:
    """Start the command; maybe kill it at a random moment; rerun (no kill) until a run succeeds outright
    (a `partial` run leaves records for the next one: faults keep coming)."""
    log = world.log
    if rng.random() < 0.6:
        proc = cli(world, *args)
        log.note(world.sim, f"start {args[0]} pid {proc.pid} (to be killed)", running=f"{args[0]} pid {proc.pid}")
        time.sleep(rng.uniform(0.05, 2.0))
        if proc.poll() is None:
            sig = rng.choice((signal.SIGKILL, signal.SIGTERM))
            proc.send_signal(sig)
            log.note(world.sim, f"{sig.name} {args[0]} pid {proc.pid}")
            totals.kills += 1
        log.note(world.sim, f"exit {args[0]} pid {proc.pid}: {proc.wait()}")
        totals.runs += 1
    for attempt in range(10):
        if attempt == 3:  # the faults stop: the next clean run must converge with nothing lost or doubled
            world.sim.faults.random(0)
            world.sim.faults.clear()
        totals.runs += 1
        proc = cli(world, *args)
        log.note(world.sim, f"start {args[0]} pid {proc.pid} (rerun {attempt})", running=f"{args[0]} pid {proc.pid}")
        code = proc.wait(timeout=600)
        status = last_status(db, world, args[0].replace("-", "_"))
        log.note(world.sim, f"exit {args[0]} pid {proc.pid}: {code}, run {status}")
        if code == 0 and status == "succeeded":
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
            db.use_secret_key(key)  # it seals the tax numbers imported below
            settings = Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url})
            for i in range(tenants):
                practice = generate_practice(clients, seed=seed * 100 + i)
                sim = XpmSimulator(practice=practice, seed=seed * 100 + i, slow_delay=0.3).__enter__()
                sims.append(sim)
                log.watch(sim)
                name = f"Soak Practice {i + 1}"
                add_tenant(db, name)
                import_clients(db, name, practice.write_local_csv(Path(tmp) / f"clients-{i}.csv"))
                connect_with_refresh_token(ServiceContext(db, settings_for_simulator(settings, sim, secret_key=key)),
                                           name, "xpm", sim.issue_refresh_token())
                env = {**os.environ, **sim.env(), "SYNCWORKER_DATABASE_URL": db.connect_url,
                       "SYNCWORKER_SECRET_KEY": key, "SYNCWORKER_LOG_FORMAT": "json", "SYNCWORKER_LOG_LEVEL": "ERROR"}
                env.pop("DATABASE_URL", None)
                worlds.append(TenantWorld(name, sim, env, log))
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
                    totals.stuck_runs += len(s.scalars(select(JobRun.id).where(JobRun.status.in_(LIVE))).all())
                    totals.stuck_tenants += len(s.scalars(select(RunLock.tenant_id)).all())
                totals.rounds = round_no
                totals.duplicated = log.duplicated()
                say(f"round {round_no}: {totals}")
            for line in log.explain():
                say(line)
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
