"""Sync cycles against the XPM simulator over real sockets, on a file SQLite database: the first sync of N
freshly linked pairs, a cycle with edits on both sides, and quiet cycles. Prints wall time, API calls and
writes per cycle (quiet cycles must write nothing).

    PYTHONPATH=. .venv/bin/python benchmarks/sync_cycles.py [--clients 1000] [--edits 20] [--quiet 5]

Edits stay under XPM's 60 calls/minute so the figures show the engine, not the rate limiter.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from syncworker.services.sync_run import run_sync  # noqa: E402
from syncworker.store.db import Database  # noqa: E402
from tests.sync.worlds import xpm_world  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--edits", type=int, default=20, help="records edited on each side in the edit cycle")
    ap.add_argument("--quiet", type=int, default=5, help="cycles without edits")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.upgrade()
        with xpm_world(db, clients=args.clients) as w:
            print(f"{len(w.pairs)} linked pairs (XPM simulator, SQLite file)")

            def cycle(label: str) -> None:
                calls, writes, audit = w.sim.stats.total_calls, w.remote_writes(), w.audit_rows()
                t = time.perf_counter()
                r = run_sync(w.ctx, w.tenant, "xpm")
                took = time.perf_counter() - t
                c = r.counts
                print(f"{label:<14} {took:7.2f} s  status={r.status}  api calls={w.sim.stats.total_calls - calls:<4} "
                      f"remote writes={w.remote_writes() - writes:<4} audit rows={w.audit_rows() - audit:<4} "
                      f"created={c['created']} updated={c['updated']} unchanged={c['unchanged']} "
                      f"conflicts={c['conflicts']} failed={c['failed']}")

            cycle("first sync")
            pairs = list(w.pairs.items())
            for i, (local_id, _) in enumerate(pairs[:args.edits]):
                w.edit_local(local_id, email=f"bench.local.{i}@example.test")
            for i, (_, rid) in enumerate(pairs[args.edits:2 * args.edits]):
                w.sim.store.edit_client(rid, Phone=f"02 9333 {1000 + i}")
            cycle("edit cycle")
            for n in range(args.quiet):
                cycle(f"quiet cycle {n + 1}")
        db.dispose()


if __name__ == "__main__":
    main()
