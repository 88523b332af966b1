"""Scale-out fault and crash soak, seeded and bounded: PostgreSQL with 3 `syncworker worker` processes and
the `syncworker clock` process, every process's database connections through a TCP proxy on loopback that
cuts them all at random moments (mid-transaction as often as not). Two tenants: one on XPM (link runs and
syncs; local edits to push), one on Xero (local edits to push, edits made in Xero arriving as signed
webhooks, redelivered and out of order). The webhook intake is the real HTTP app deferring to the queue,
as `serve` does in scale-out.

Each round: faults at random on both simulators (minute and day 429, 5xx, resets, slow, malformed and
HTTP-200 error answers, lost responses), jobs deferred as the operator API would, and for `--chaos`
seconds: workers SIGKILLed or SIGTERMed (and restarted), connections cut, access tokens expired (the clock
moved) and token answers lost mid-rotation, webhooks repeated and reordered. Then the faults stop, each
tenant gets a sync, the queue drains (a SIGKILLed worker's jobs wait for the workers' recovery pass, every
minute), and the simulators' write logs and the database are checked:

- lost: an edit that should have reached the other side and did not;
- duplicated: a write (same record, same body) applied twice by a simulator;
- stuck runs: runs not in a terminal status (queued or running); stuck tenants: leases held, or queue jobs left `doing`; both
  after waiting for a quiet moment (up to 150 s: the recovery pass runs every minute), summed over rounds.

    .venv/bin/python benchmarks/soak_scaleout.py --database postgresql://127.0.0.1:5432/test --rounds 3

A short version runs in the suite (tests/reliability/test_soak_scaleout.py).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import make_url, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.soak import Totals as SoakTotals  # noqa: E402
from benchmarks.soak import WriteLog  # noqa: E402
from benchmarks.tcp_proxy import CuttingProxy  # noqa: E402
from simulators.xero import XeroSimulator  # noqa: E402
from simulators.xpm import XpmSimulator  # noqa: E402
from syncworker.config import Settings  # noqa: E402
from syncworker.domain.profile import ClientStatus  # noqa: E402
from syncworker.jobs.base import JobRejected, JobRequest  # noqa: E402
from syncworker.sample import generate_practice  # noqa: E402
from syncworker.services.connect import connect_with_refresh_token  # noqa: E402
from syncworker.services.context import ServiceContext  # noqa: E402
from syncworker.services.demo import settings_for_simulator  # noqa: E402
from syncworker.services.importer import import_clients  # noqa: E402
from syncworker.services.runs import LIVE  # noqa: E402
from syncworker.services.tenants import add_tenant  # noqa: E402
from syncworker.store.crypto import generate_key  # noqa: E402
from syncworker.store.db import Database  # noqa: E402
from syncworker.store.models import Client, JobRun, Link, RunLock, Tenant  # noqa: E402
from tests.sync.worlds import link_all  # noqa: E402

XPM_FAULTS = ("minute_429", "500", "reset", "slow", "malformed_xml", "status_error")
XERO_FAULTS = ("minute_429", "500", "reset", "slow", "malformed_json", "lost_response")
CLI = "from syncworker.cli.main import cli; cli()"
XPM, XERO = "Soak XPM Practice", "Soak Xero Practice"


@dataclass
class Totals(SoakTotals):
    """The embedded soak's counts (its `runs` and `failed_reruns` stay 0 here), plus the scale-out's own."""

    cuts: int = 0  # times every database connection was cut
    webhooks: int = 0  # deliveries, first ones plus repeats and reordered ones
    unconverged: int = 0  # tenants whose clean sync did not succeed in time


class XeroWriteLog:
    """Every contacts write the Xero simulator applies (after its idempotency-key cache: a replayed key
    is not a second write)."""

    def __init__(self, sim: XeroSimulator) -> None:
        self.lock = threading.Lock()
        self.applied: Counter[tuple[str, str]] = Counter()
        write = sim.api._write

        def logged(req: Any, query: Any, contact_id: Any) -> Any:
            resp = write(req, query, contact_id)
            if 200 <= resp.status < 300:
                with self.lock:
                    self.applied[(req.path, hashlib.sha256(req.body or b"").hexdigest())] += 1
            return resp

        sim.api._write = logged  # type: ignore[method-assign]

    def duplicated(self) -> int:
        with self.lock:
            return sum(n - 1 for n in self.applied.values() if n > 1)


class Fleet:
    """The scale-out processes: `workers` workers and one clock, restarted when killed."""

    def __init__(self, env: dict[str, str], workers: int, logs: Path | None, *, clock: bool = True,
                 signals: tuple[signal.Signals, ...] = (signal.SIGKILL, signal.SIGTERM)) -> None:
        self.env, self.logs, self.signals = env, logs, signals
        self.workers: list[subprocess.Popen[bytes]] = [self._start("worker", "--concurrency", "2", "--grace", "3")
                                                       for _ in range(workers)]
        self.clock = self._start("clock") if clock else None

    def _start(self, *args: str) -> subprocess.Popen[bytes]:
        out: Any = subprocess.DEVNULL
        if self.logs is not None:
            out = open(self.logs / f"{args[0]}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
        return subprocess.Popen([sys.executable, "-c", CLI, *args], env=self.env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT)

    def kill_one(self, rng: random.Random) -> None:
        i = rng.randrange(len(self.workers))
        self.workers[i].send_signal(rng.choice(self.signals))

    def revive(self) -> None:
        for i, proc in enumerate(self.workers):
            if proc.poll() is not None:
                self.workers[i] = self._start("worker", "--concurrency", "2", "--grace", "3")
        if self.clock is not None and self.clock.poll() is not None:
            self.clock = self._start("clock")

    def stop(self) -> None:
        """At the end (the checks are done and the schema is dropped next): no grace needed."""
        procs = [*self.workers, *([self.clock] if self.clock else [])]
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for proc in procs:
            proc.wait()


@dataclass
class World:
    db: Database  # direct (the soak's own checks)
    ctx: ServiceContext  # through the proxy (the webhook intake and the operator's deferrals)
    check_ctx: ServiceContext  # direct, for the checks' reads of the remote side
    xpm: XpmSimulator
    xero: XeroSimulator
    proxy: CuttingProxy
    executor: Any  # ProcrastinateExecutor
    fleet: Fleet
    xpm_log: WriteLog
    xero_log: XeroWriteLog
    phones: dict[tuple[str, int], str] = field(default_factory=dict)  # (tenant, client id) -> pushed phone
    emails: dict[int, str] = field(default_factory=dict)  # client id -> email edited in Xero
    link_runs: bool = True


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """`app` on uvicorn in a thread, quiet. uvicorn sets its loggers' levels for the whole process; they are put
    back when it stops, so that a test run later in the same process (its logs at INFO) still sees them."""
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")]
    levels = [logger.level for logger in loggers]
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def tenant_id(db: Database, name: str) -> int:
    with db.read() as s:
        return s.scalar(select(Tenant.id).where(Tenant.name == name))  # type: ignore[return-value]


def link_directly(ctx: ServiceContext, tenant: str, system: str, prefix: str) -> None:
    """A tenant that starts linked (one local client per remote record, equal values): the Xero tenant's
    soak is about webhooks and pushes; the XPM tenant's too when link runs are left out (the short version).
    XPM's detailed listing, as its paged one leaves business numbers out."""
    adapter = ctx.adapter(tenant_id(ctx.db, tenant), system)
    pages = adapter.iter_client_pages(modified_since=datetime(2000, 1, 1, tzinfo=UTC)) if system == "xpm" \
        else adapter.iter_client_pages()
    profiles = [p for page in pages for p in page.items if p.status == ClientStatus.ACTIVE]
    link_all(ctx, system, profiles, tenant=tenant, prefix=prefix)


def defer(w: World, kind: str, tenant: str, system: str) -> int | None:
    try:
        return int(w.executor.submit(JobRequest(kind, tenant, {"system": system}, trigger="operator")))
    except JobRejected:  # the same job already waits: the queue keeps one
        return None
    except Exception:  # noqa: BLE001 - the connection was cut under the deferral: the operator tries again
        return None


def edit_round(w: World, rng: random.Random, round_no: int, n: int) -> None:
    """Local phone edits for both tenants (to push) and email edits made in Xero (to pull, by webhook)."""
    for name, system in ((XPM, "xpm"), (XERO, "xero")):
        with w.db.session() as s:
            tid = s.scalar(select(Tenant.id).where(Tenant.name == name))
            # XPM: clients without a mobile (for an individual with one, XPM's phone slot shows the mobile).
            q = select(Link.client_id).join(Client, Client.id == Link.client_id).where(
                Link.tenant_id == tid, Link.system == system, Link.status == "linked")
            linked = sorted(s.scalars(q.where(Client.mobile.is_(None)) if system == "xpm" else q))
            pushed = {cid for (t, cid) in w.phones if t == name}
            choices = [c for c in linked if c not in pushed and c not in w.emails]
            for cid in rng.sample(choices, min(n, len(choices))):
                phone = f"02 9{round_no % 10}{rng.randrange(10**5, 10**6)}"
                client = s.get(Client, cid)
                assert client is not None
                client.phone = phone
                w.phones[(name, cid)] = phone
    with w.db.read() as s:
        tid = tenant_id(w.db, XERO)
        pairs = dict(s.execute(select(Link.client_id, Link.remote_id).where(
            Link.tenant_id == tid, Link.system == "xero", Link.status == "linked")).all())
    free = sorted(cid for cid in pairs if (XERO, cid) not in w.phones and cid not in w.emails)
    for cid in rng.sample(free, min(n, len(free))):
        email = f"soak.{round_no}.{rng.randrange(10**6)}@example.test"
        w.xero.store.edit(pairs[cid], EmailAddress=email)  # a user's edit in Xero: a signed webhook follows
        w.emails[cid] = email


def chaos(w: World, rng: random.Random, seconds: float, totals: Totals) -> None:
    """A kill and a cut first (so even a short round has both), then actions at random until `seconds`."""
    end = time.monotonic() + seconds
    first = ["kill", "cut"]
    while first or time.monotonic() < end:
        time.sleep(rng.uniform(0.3, 1.5) if first else rng.uniform(0.5, 2.5))
        action = first.pop(0) if first else rng.choice(("kill", "kill", "cut", "cut", "defer", "token", "day",
                                                        "webhooks"))
        if action == "kill":
            w.fleet.kill_one(rng)
            totals.kills += 1
            time.sleep(rng.uniform(0.2, 1.0))
            w.fleet.revive()
        elif action == "cut":
            w.proxy.cut()
            totals.cuts += 1
        elif action == "defer":
            if w.link_runs:
                defer(w, "link_run", XPM, "xpm")
            defer(w, "sync", XPM, "xpm")
            defer(w, "sync", XERO, "xero")
        elif action == "token":
            # Access tokens expire (the simulators' shared clock moves past their 30 minutes) and the next
            # token answer is lost after the refresh token rotated server-side.
            w.xpm.clock.advance(31 * 60)
            w.xpm.faults.inject("reset", 1, path_contains="/connect/token")
        elif action == "day":
            sim_faults = rng.choice((w.xpm.faults, w.xero.faults))
            sim_faults.inject("day_429", 1, retry_after=3)  # a short day window, so the tenant resumes in time
        elif action == "webhooks":
            events = [d for d in list(w.xero.webhooks.deliveries) if d.kind == "event"]
            if events:  # Xero delivers at least once and in no promised order: repeat some, newest first
                for d in sorted(rng.sample(events, min(3, len(events))), key=lambda d: -d.payload["lastEventSequence"]):
                    w.xero.webhooks._post(type(d)("redelivery", d.body, d.signature, True))
                    totals.webhooks += 1


def queue_counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return dict(conn.execute(text("SELECT status::text, count(*) FROM procrastinate_jobs "
                                      "WHERE status IN ('todo', 'doing') GROUP BY status")).all())


def waiting_run(db: Database, kind: str, tenant: str, system: str) -> int | None:
    """The run of the job of this kind that waits in the queue for the tenant (its queueing lock), if any."""
    from syncworker.jobs.procrastinate_executor import queueing_lock

    with db.engine.connect() as conn:
        return conn.execute(text("SELECT (args->>'run_id')::bigint FROM procrastinate_jobs WHERE queueing_lock = :lock "
                                 "AND status = 'todo' ORDER BY id DESC LIMIT 1"),
                            {"lock": queueing_lock(JobRequest(kind, tenant, {"system": system}))}).scalar()


def converge(w: World, timeout: float, say: Callable[[str], None]) -> int:
    """Faults off; each tenant gets a sync that must succeed, then the queue must drain. Returns how many
    tenants did not get a succeeded sync in time."""
    deadline = time.monotonic() + timeout
    w.fleet.revive()
    pending = {(XPM, "xpm"), (XERO, "xero")}
    runs: dict[tuple[str, str], int | None] = {t: None for t in pending}
    while pending and time.monotonic() < deadline:
        for key in list(pending):
            rid = runs[key]
            status = None
            if rid is not None:
                with w.db.read() as s:
                    status = s.scalar(select(JobRun.status).where(JobRun.id == rid))
            if status == "succeeded":
                pending.discard(key)
            elif rid is None or status in ("failed", "partial"):
                # A sync that waits in the queue runs after the faults stopped: it is the one to watch.
                runs[key] = waiting_run(w.db, "sync", *key) or defer(w, "sync", *key)
        time.sleep(0.2)
    while queue_counts(w.db) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pending:
        say(f"  no clean sync in time for {sorted(pending)}; queue {queue_counts(w.db)}")
    return len(pending)


def settled(db: Database, seconds: float) -> tuple[list[int], int]:
    """Wait (up to `seconds`) for a quiet moment: no run running or queued, no lease, no queue job waiting or
    being worked on (the clock keeps deferring every minute, and a SIGKILLed worker's job waits for the
    recovery pass). Returns what is still there at the end: run ids, and leases plus jobs left `doing`."""
    deadline = time.monotonic() + seconds
    while True:
        with db.read() as s:
            running = list(s.scalars(select(JobRun.id).where(JobRun.status.in_(LIVE))))
            leases = len(s.scalars(select(RunLock.tenant_id)).all())
        queue = queue_counts(db)
        if not (running or leases or queue) or time.monotonic() >= deadline:
            return running, leases + queue.get("doing", 0)
        time.sleep(0.2)


def check(w: World, totals: Totals, say: Callable[[str], None] = print, settle_seconds: float = 150) -> None:
    for name, system in ((XPM, "xpm"), (XERO, "xero")):
        tid = tenant_id(w.db, name)
        with w.db.read() as s:
            remote_ids = dict(s.execute(select(Link.client_id, Link.remote_id).where(
                Link.tenant_id == tid, Link.status == "linked", Link.system == system)).all())
        adapter = w.check_ctx.adapter(tid, system)
        digits = lambda v: "".join(ch for ch in (v or "") if ch.isdigit())  # noqa: E731
        for (tenant, cid), phone in list(w.phones.items()):
            if tenant != name:
                continue
            totals.writes_checked += 1
            remote = adapter.get_client(remote_ids[cid]) if cid in remote_ids else None
            if remote is None or digits(remote.phone) != digits(phone):
                totals.lost += 1
                say(f"  lost: {name} client {cid}: phone {phone!r} pushed, {system} has "
                    f"{remote.phone if remote else 'no record'!r}")
            del w.phones[(tenant, cid)]
    with w.db.read() as s:
        for cid, email in list(w.emails.items()):
            totals.writes_checked += 1
            local = s.scalar(select(Client.email).where(Client.id == cid))
            if (local or "").lower() != email:
                totals.lost += 1
                say(f"  lost: {XERO} client {cid}: email edited in Xero, local has another")
    w.emails.clear()
    totals.duplicated = w.xpm_log.duplicated() + w.xero_log.duplicated()
    stuck_runs, stuck_tenants = settled(w.db, settle_seconds)
    totals.stuck_runs += len(stuck_runs)
    totals.stuck_tenants += stuck_tenants
    with w.db.read() as s:
        for run in s.scalars(select(JobRun).where(JobRun.id.in_(stuck_runs))):
            say(f"  stuck: run {run.id} {run.kind} {run.status} {run.progress} {run.message}")
        runs = Counter(f"{k}:{st}" for k, st in s.execute(select(JobRun.kind, JobRun.status)).all())
        failed = Counter((m or "")[:120] for m in s.scalars(select(JobRun.message).where(JobRun.status != "succeeded")))
    say(f"  runs: {dict(runs)}")
    for message, n in failed.most_common(8):
        say(f"  {n} x {message}")


def proxied(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def soak_scaleout(database: str, rounds: int, seed: int, clients: int, fault_rate: float, *, workers: int = 3,
                  chaos_seconds: float = 30, converge_seconds: float = 240, clock: bool = True,
                  signals: tuple[signal.Signals, ...] = (signal.SIGKILL, signal.SIGTERM), link_runs: bool = True,
                  say: Callable[[str], None] = print) -> Totals:
    """`clock=False`, `signals=(SIGTERM,)` and `link_runs=False` make the short version: a SIGKILLed worker's
    job waits for the workers' recovery pass (a minute), the clock fires once a minute, and the XPM tenant
    then starts linked instead of by link runs."""
    from syncworker.http.app import create_app
    from syncworker.jobs.procrastinate_executor import ProcrastinateExecutor, install_schema

    rng = random.Random(seed)
    totals = Totals()
    logs = Path(os.environ["SOAK_LOG_DIR"]) if os.environ.get("SOAK_LOG_DIR") else None
    schema = f"soak_{uuid.uuid4().hex[:8]}"
    admin = Database(database)
    with admin.engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    db = Database(database, schema=schema)
    proxy = CuttingProxy(make_url(db.url).port or 5432).start()
    via_proxy = Database(proxied(db.url, proxy.port), schema=schema)
    xpm_log = WriteLog()
    stack: list[Callable[[], object]] = []
    try:
        db.upgrade()
        install_schema(db)
        key = generate_key()
        practice = generate_practice(clients, seed=seed)
        xpm = XpmSimulator(practice=practice, seed=seed, slow_delay=0.3).__enter__()
        stack.append(lambda: xpm.__exit__(None, None, None))
        xpm_log.watch(xpm)
        xero = XeroSimulator(contacts=max(clients // 2, 10), seed=seed + 1, identity=xpm.identity, clock=xpm.clock,
                             slow_delay=0.3).__enter__()
        stack.append(lambda: xero.__exit__(None, None, None))
        base = Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url})
        settings = replace(settings_for_simulator(base, xpm, secret_key=key), xero_api_url=xero.api_url,
                           xero_webhook_key=xero.webhook_key)
        check_ctx = ServiceContext(db, settings)
        add_tenant(db, XPM)
        if link_runs:
            with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
                import_clients(db, XPM, practice.write_local_csv(Path(tmp) / "clients.csv"))
        connect_with_refresh_token(check_ctx, XPM, "xpm", xpm.issue_refresh_token(), remote_tenant_id=xpm.xero_tenant_id)
        if not link_runs:
            link_directly(check_ctx, XPM, "xpm", "P")
        add_tenant(db, XERO)
        connect_with_refresh_token(check_ctx, XERO, "xero", xero.token_set().refresh_token,
                                   remote_tenant_id=xero.xero_tenant_id)
        link_directly(check_ctx, XERO, "xero", "X")
        ctx = ServiceContext(via_proxy, replace(settings, database_url=via_proxy.connect_url))
        executor = ProcrastinateExecutor(ctx)
        stack.append(executor.shutdown)
        server = serving(create_app(ctx, executor))
        url = server.__enter__()
        stack.append(lambda: server.__exit__(None, None, None))
        xero.webhook_url = f"{url}/webhooks/xero"
        env = {**os.environ, **xpm.env(), **xero.env(), "SYNCWORKER_DATABASE_URL": via_proxy.connect_url,
               "SYNCWORKER_SECRET_KEY": key, "SYNCWORKER_LOG_FORMAT": "json",
               "SYNCWORKER_LOG_LEVEL": "INFO" if logs else "ERROR",
               "SYNCWORKER_SCHEDULE_LINK_RUN": "* * * * *", "SYNCWORKER_SCHEDULE_SYNC": "* * * * *"}
        env.pop("DATABASE_URL", None)
        fleet = Fleet(env, workers, logs, clock=clock, signals=signals)
        stack.append(fleet.stop)
        w = World(db, ctx, check_ctx, xpm, xero, proxy, executor, fleet, xpm_log, XeroWriteLog(xero),
                  link_runs=link_runs)
        # The starting point: the XPM tenant linked, and both tenants synced once (a pair's first sync settles
        # differences by its first-sync rules; the soak's edits are the changes after it).
        if link_runs:
            defer(w, "link_run", XPM, "xpm")
        totals.unconverged += converge(w, converge_seconds, say)
        for round_no in range(1, rounds + 1):
            # Each round's writes meet an unreadable answer and a 5xx at least once, then faults at random.
            xpm.faults.inject("malformed_xml", 1, path_contains="client.api/update")
            xpm.faults.inject("500", 1)
            xero.faults.inject("malformed_json", 1, path_contains="Contacts")
            xero.faults.inject("lost_response", 1, path_contains="Contacts")
            xpm.faults.random(fault_rate, XPM_FAULTS)
            xero.faults.random(fault_rate, XERO_FAULTS)
            edit_round(w, rng, round_no, 4)
            defer(w, "sync", XPM, "xpm")
            defer(w, "sync", XERO, "xero")
            sent_before = len(xero.webhooks.deliveries)
            chaos(w, rng, chaos_seconds, totals)
            for sim in (xpm, xero):
                sim.faults.random(0)
                sim.faults.clear()
            xero.webhooks.wait_idle()
            totals.webhooks += len([d for d in xero.webhooks.deliveries[sent_before:] if d.kind == "event"])
            totals.unconverged += converge(w, converge_seconds, say)
            totals.faults = sum(xpm.faults.fired.values()) + sum(xero.faults.fired.values())
            check(w, totals, say)
            totals.rounds = round_no
            say(f"round {round_no}: {totals}")
    finally:
        for undo in reversed(stack):
            try:
                undo()
            except Exception as exc:  # noqa: BLE001 - tear down the rest whatever one part does
                say(f"teardown: {type(exc).__name__}: {exc}")
        proxy.stop()
        via_proxy.dispose()
        db.dispose()
        with admin.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()
    return totals


def table(label: str, t: Totals) -> str:
    head = ("database", "rounds", "faults", "kills", "cuts", "webhooks", "writes checked", "lost", "duplicated",
            "stuck runs", "stuck tenants")
    row = (label, t.rounds, t.faults, t.kills, t.cuts, t.webhooks, t.writes_checked, t.lost, t.duplicated,
           t.stuck_runs, t.stuck_tenants)
    widths = [max(len(str(a)), len(str(b))) for a, b in zip(head, row, strict=True)]
    fmt = " | ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*row)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", default="postgresql://127.0.0.1:5432/test", help="PostgreSQL URL")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--clients", type=int, default=40)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--fault-rate", type=float, default=0.15)
    p.add_argument("--chaos", type=float, default=30, help="seconds of kills, cuts and faults per round")
    a = p.parse_args()
    totals = soak_scaleout(a.database, a.rounds, a.seed, a.clients, a.fault_rate, workers=a.workers,
                           chaos_seconds=a.chaos)
    print(table(f"postgresql, {a.workers} workers", totals))
    if totals.unconverged:
        print(f"({totals.unconverged} tenant(s) without a succeeded clean sync in time)")


if __name__ == "__main__":
    main()
