"""Xero API calls spent by the real jobs against the Xero simulator (which counts every call it answers), on a
file SQLite database:

- a webhook burst: N contacts edited in Xero, one CONTACT event each, pulled by one `webhook_pull` job;
- a sync writing N contacts: N linked clients edited locally, one `sync` run pushes them.

    PYTHONPATH=. .venv/bin/python benchmarks/xero_calls.py [--contacts 300] [--burst 120] [--writes 120]

The floor is what Xero's API allows: `GET /Contacts?IDs=` reads 50 contacts a call, `POST /Contacts` writes 50
a call and answers with the stored contacts, so a burst costs ceil(N/50) reads and a sync 1 incremental read
plus ceil(N/50) writes. Rate limits are lifted on both sides so the figures show calls, not waiting.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters import ratelimit  # noqa: E402
from simulators.xpm.limits import Limits as SimLimits  # noqa: E402
from syncworker.services.sync_run import run_sync, run_webhook_pull  # noqa: E402
from syncworker.store.db import Database  # noqa: E402
from syncworker.store.models import WebhookEvent  # noqa: E402
from tests.sync.worlds import xero_world  # noqa: E402

UNLIMITED = 10**9


def _api_calls(sim: object) -> int:
    return int(sim.stats.get("api_calls", 0))  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contacts", type=int, default=300)
    ap.add_argument("--burst", type=int, default=120, help="contact events in the webhook burst")
    ap.add_argument("--writes", type=int, default=120, help="contacts the sync writes")
    args = ap.parse_args()
    rows: list[tuple[str, int, int, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.upgrade()
        with xero_world(db, contacts=args.contacts) as w:
            w.sim.limiter.limits = SimLimits(per_minute=UNLIMITED, per_day=UNLIMITED, app_per_minute=UNLIMITED)
            ratelimit._shared[f"xero-tenant:{w.sim.xero_tenant_id}"] = ratelimit.RateLimiter(
                ratelimit.Limits(per_minute=UNLIMITED, per_day=UNLIMITED))
            pairs = list(w.pairs.items())
            need = max(args.burst, args.writes)
            if len(pairs) < need:
                raise SystemExit(f"--contacts gives {len(pairs)} linked pairs; need {need}")
            first = run_sync(w.ctx, w.tenant, "xero", full=True)
            print(f"{len(pairs)} linked pairs; first sync: {first.status}, {_api_calls(w.sim)} calls so far")

            # 1. webhook burst
            w.sim.clock.advance(60)
            edited = [rid for _, rid in pairs[:args.burst]]
            for i, rid in enumerate(edited):
                w.sim.store.edit(rid, EmailAddress=f"burst.{i}@example.test")
            when = datetime.now(UTC)
            with db.session() as s:
                events = [WebhookEvent(tenant_id=w.tenant_id, system="xero", category="CONTACT", event_type="UPDATE",
                                       resource_id=rid, event_date=when + timedelta(milliseconds=i))
                          for i, rid in enumerate(edited)]
                s.add_all(events)
                s.flush()
                ids = [e.id for e in events]
            before = _api_calls(w.sim)
            report = run_webhook_pull(w.ctx, w.tenant, "xero", ids)
            assert report.status == "succeeded", (report.status, report.message, report.errors[:3])
            rows.append((f"webhook burst of {args.burst} contact events", _api_calls(w.sim) - before,
                         math.ceil(args.burst / 50), report.counts.get("events_processed", 0)))

            # 2. a sync writing N contacts
            for i, (local_id, _) in enumerate(pairs[:args.writes]):
                w.edit_local(local_id, email=f"local.{i}@example.test")
            before = _api_calls(w.sim)
            report = run_sync(w.ctx, w.tenant, "xero")
            assert report.status == "succeeded", (report.status, report.message, report.errors[:3])
            rows.append((f"sync writing {args.writes} contacts", _api_calls(w.sim) - before,
                         1 + math.ceil(args.writes / 50), report.counts.get("remote_writes", 0)))
        db.dispose()
    print("\n| job | calls | minimum the API allows | ratio | records |\n|---|---|---|---|---|")
    for label, calls, floor, done in rows:
        print(f"| {label} | {calls} | {floor} | {calls / floor:.1f}x | {done} |")


if __name__ == "__main__":
    main()
