"""API budget of the real jobs against the XPM simulator: calls made per job against the fewest the API allows.

For each practice size, a generated practice (clients, contacts, relationships and groups on the XPM side; the
matching local clients imported from CSV) is linked and synced with the real services over real sockets, on a
file SQLite database:

    first link run        one detailed listing + the group list
    first sync            one incremental read + the writes it really makes
    sync after 20 edits   20 clients edited in XPM: one incremental read
    quiet sync            nothing changed: one incremental read

The simulator's `list?detailed=true` is as large and as slow as Xero reports the real one (several minutes and
50 MB+ at 15,000 clients): the full detailed record with contacts, groups, relationships and 3.5 file notes a
client on average (~3.5 KB a client), sent at 200 KB/s. That time is travelled on the simulator's clock, as
are the adapter's waits for XPM's 60 calls a minute, so the run stays short; the listing's simulated time and
size are printed. The streaming parse's memory is measured apart: a child process reads the same listing
through XpmClient, keeping nothing, and reports its peak RSS over its RSS before the call. Calls are counted
by the simulator. "minutes at 60/min" is calls / 60: the least time the job can take under the minute limit.

    PYTHONPATH=. .venv/bin/python benchmarks/api_budget.py [--sizes 1000 5000 15000] [--edits 20]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.base import ClientSystem  # noqa: E402
from adapters.ratelimit import Limits, RateLimiter, reset_shared_limiters  # noqa: E402
from adapters.xero_identity.tokens import TokenManager  # noqa: E402
from adapters.xpm.client import XpmClient  # noqa: E402
from simulators.xpm import XpmSimulator  # noqa: E402
from syncworker.config import Settings  # noqa: E402
from syncworker.sample import generate_practice  # noqa: E402
from syncworker.services.connect import connect_with_refresh_token  # noqa: E402
from syncworker.services.context import ServiceContext  # noqa: E402
from syncworker.services.demo import settings_for_simulator  # noqa: E402
from syncworker.services.importer import import_clients  # noqa: E402
from syncworker.services.link_run import run_link_run  # noqa: E402
from syncworker.services.sync_run import run_sync  # noqa: E402
from syncworker.services.systems import token_store  # noqa: E402
from syncworker.services.tenants import add_tenant  # noqa: E402
from syncworker.store.db import Database  # noqa: E402

TENANT = "Budget Practice"
DAY_BUDGET = 5000
BYTES_PER_SECOND = 200_000  # ~4 minutes for the ~52 MB listing of 15,000 clients
NOTES_PER_CLIENT = 3.5


def writes(sim: XpmSimulator) -> int:
    return sum(v for k, v in sim.stats.calls.items() if k.startswith(("PUT", "POST")))


def measure(size: int, edits: int, seed: int, emit=lambda row: None) -> list[dict]:  # noqa: ANN001
    """The jobs at one practice size; `emit` gets each row as its job ends (a long run shows as it goes)."""
    rows: list[dict] = []
    practice = generate_practice(size, seed=seed)
    with tempfile.TemporaryDirectory() as tmp, XpmSimulator(
            practice=practice, seed=seed, detailed_list_bytes_per_second=BYTES_PER_SECOND,
            notes_per_client=NOTES_PER_CLIENT) as sim:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.upgrade()
        settings = settings_for_simulator(Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url}), sim)
        clock = sim.clock

        def adapter(ctx: ServiceContext, tenant_id: int, system: str) -> ClientSystem:
            # The production adapter, its waits (limiter, backoff, token clock) on the simulator's clock: XPM's
            # 60 calls a minute are kept, and waiting them out costs no real time.
            tokens = TokenManager(token_store(ctx, tenant_id, system), client_id=sim.client_id,
                                  client_secret=sim.client_secret, identity_url=sim.identity_url, clock=clock.now,
                                  sleep=clock.advance)
            limiter = RateLimiter(Limits(), clock=clock.elapsed, now=clock.now, sleep=clock.advance)
            return XpmClient(tokens, base_url=sim.base_url, limiter=limiter, sleep=clock.advance, clock=clock.now)

        ctx = ServiceContext(db, settings, adapter_factory=adapter)
        add_tenant(db, TENANT)
        import_clients(db, TENANT, practice.write_local_csv(Path(tmp) / "clients.csv"))
        connect_with_refresh_token(ctx, TENANT, "xpm", sim.issue_refresh_token())

        def job(label: str, run, minimum_reads: int, day: int = 1) -> dict:
            before, w, t = dict(sim.stats.calls), writes(sim), time.perf_counter()
            report = run()
            spent = {k: v - before.get(k, 0) for k, v in sim.stats.calls.items() if v - before.get(k, 0)}
            made, wrote = sum(spent.values()), writes(sim) - w
            minimum = minimum_reads + wrote
            by_kind = ", ".join(f"{k} {v}" for k, v in sorted(spent.items(), key=lambda kv: -kv[1]))
            if report.counts.get("pushes_pending"):
                by_kind += f"; {report.message}"
            row = {"clients": size, "day": day, "job": label, "status": report.status, "calls": made,
                         "writes": wrote, "minimum": minimum, "wall": time.perf_counter() - t,
                         "day_left": report.api_calls.get("day_remaining"), "note": by_kind,
                   "pending": report.counts.get("pushes_pending", 0)}
            rows.append(row)
            if label != "first link run":
                emit(row)
            return row

        job("first link run", lambda: run_link_run(ctx, TENANT, "xpm"), 2)
        list_seconds, list_mb = sim.stats.list_seconds, sim.stats.list_bytes / 1e6
        rows[0]["note"] += f"; listing {list_seconds / 60:.1f} min (simulated), {list_mb:.0f} MB"
        emit(rows[0])
        sim.clock.advance(120)
        job("first sync", lambda: run_sync(ctx, TENANT, "xpm"), 1)
        for uuid in list(sim.store.clients)[:edits]:
            sim.store.edit_client(uuid, Phone="02 9333 0000")
        sim.clock.advance(120)
        job(f"sync after {edits} remote edits", lambda: run_sync(ctx, TENANT, "xpm"), 1)
        sim.clock.advance(120)
        last = job("quiet sync", lambda: run_sync(ctx, TENANT, "xpm"), 1)
        day = 1
        while last["pending"] and day < 30:  # the pushes the first day could not afford, a day at a time
            sim.clock.advance(86_400)
            day += 1
            last = job(f"sync on day {day}", lambda: run_sync(ctx, TENANT, "xpm"), 1, day)
        rss = listing_rss(sim)
        rows[0]["rss"] = (f"{size:,} clients: the detailed listing ({list_mb:.0f} MB, {list_seconds / 60:.1f} min "
                          f"simulated) read through XpmClient in a process keeping nothing peaks at {rss['peak_mb']:.0f} "
                          f"MB RSS, +{rss['growth_mb']:.0f} MB over that process before the call "
                          f"({rss['clients']:,} clients read)")
        db.dispose()
    reset_shared_limiters()
    return rows


def listing_rss(sim: XpmSimulator) -> dict:
    """Peak RSS of reading the detailed listing through XpmClient in a fresh process that keeps nothing:
    what the streaming parse itself holds, apart from the simulator (which renders its whole answer)."""
    sim.limiter.reset()
    args = json.dumps({"base_url": sim.base_url, "identity_url": sim.identity_url, "client_id": sim.client_id,
                       "client_secret": sim.client_secret, "tenant": sim.xero_tenant_id,
                       "refresh_token": sim.issue_refresh_token()})
    out = subprocess.run([sys.executable, __file__, "--listing-rss", args], capture_output=True, text=True,
                         check=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _read_listing(raw: str) -> None:
    from adapters.base import TokenSet
    from adapters.xero_identity.memory_store import InMemoryTokenStore

    a = json.loads(raw)
    store = InMemoryTokenStore(TokenSet(access_token=None, refresh_token=a["refresh_token"], expires_at=None,
                                        remote_tenant_id=a["tenant"]))
    tokens = TokenManager(store, client_id=a["client_id"], client_secret=a["client_secret"],
                          identity_url=a["identity_url"])
    client = XpmClient(tokens, base_url=a["base_url"])
    before, clients = _rss_mb(), 0
    for page in client.iter_client_pages():
        clients += len(page.items)
    print(json.dumps({"clients": clients, "growth_mb": _rss_mb() - before, "peak_mb": _rss_mb()}))


def _rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux keeps that across fork + exec, so a child would
    report its parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: kilobytes on macOS differ


def print_row(r: dict) -> None:
    ratio = r["calls"] / r["minimum"] if r["minimum"] else float("nan")
    print(f"| {r['clients']:,} | {r['job']} | {r['status']} | {r['calls']} | {r['writes']} | {r['minimum']} "
          f"| {ratio:.2f}x | {r['calls'] / 60:.1f} | {100 * r['calls'] / DAY_BUDGET:.1f}% "
          f"| {r['day_left']} | {r['wall']:.1f} | {r.get('note', '')} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 15000])
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--listing-rss", help=argparse.SUPPRESS)  # the child process of `listing_rss`
    args = ap.parse_args()
    if args.listing_rss:
        return _read_listing(args.listing_rss)
    print("| clients | job | status | calls | of which writes | API minimum | ratio | minutes at 60/min "
          "| share of daily budget | day budget left | wall s | note |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    days: list[str] = []
    for n, size in enumerate(args.sizes):
        rows = measure(size, args.edits, seed=41 + n, emit=print_row)
        days.append(rows[0]["rss"])
        first = [r for r in rows if r["day"] == 1]
        link_and_sync = sum(r["calls"] for r in first[:2])
        days.append(f"{size:,} clients: first day {sum(r['calls'] for r in first)} calls (link run + first sync "
                    f"{link_and_sync}, {first[1]['writes']} of them writes), under the {DAY_BUDGET:,} a day: "
                    f"{'yes' if sum(r['calls'] for r in first) < DAY_BUDGET else 'NO'}; every needed push made by day "
                    f"{rows[-1]['day']}: {sum(r['writes'] for r in rows)} writes in all for the "
                    f"{first[1]['writes'] + first[1]['pending']} records the first sync found needing one")
    print()
    for line in days:
        print(line)


if __name__ == "__main__":
    main()
