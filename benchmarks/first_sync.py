"""The first sync after linking, measured: a generated practice on both sides (the demo's data, or any
size and seed), imported locally, XPM simulator over real sockets, a link run, then two syncs.

    PYTHONPATH=. .venv/bin/python benchmarks/first_sync.py                       # the demo: 400 clients, seed 7
    PYTHONPATH=. .venv/bin/python benchmarks/first_sync.py --clients 200 --seed 7  # `syncworker simulate xpm`
    PYTHONPATH=. .venv/bin/python benchmarks/first_sync.py --clients 1000 --seed 3 --country NZ
    PYTHONPATH=. .venv/bin/python benchmarks/first_sync.py --manual-contact   # every real contact difference asked

Prints per run: linked clients, clients in conflict (and their share), open conflicts, conflicts that are
not a real disagreement (a blank side, or two values equal in meaning: must be 0), and the writes (remote
updates and local record writes) of the first and second sync (the second must write nothing).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

from simulators.xpm import XpmSimulator  # noqa: E402
from syncworker.domain.sync import decode, normalise  # noqa: E402
from syncworker.sample import generate_practice  # noqa: E402
from syncworker.services.connect import connect_with_refresh_token  # noqa: E402
from syncworker.services.field_rules import set_rule  # noqa: E402
from syncworker.services.importer import import_clients, import_contacts  # noqa: E402
from syncworker.services.link_run import run_link_run  # noqa: E402
from syncworker.services.sync_run import run_sync  # noqa: E402
from syncworker.services.tenants import add_tenant  # noqa: E402
from syncworker.store.db import Database  # noqa: E402
from syncworker.store.models import AuditEntry, Link, SyncConflict  # noqa: E402
from tests.simulated import clocked_context  # noqa: E402

TENANT = "Demo Practice"


# --manual-contact: a tenant that wants to see every real difference in contact details at the first sync.
CONTACT_FIELDS = ("email", "phone", "mobile", "website", *(f"{a}.{p}" for a in ("address", "postal_address")
                                                           for p in ("line1", "line2", "city", "region", "postcode",
                                                                     "country")))


def measure(clients: int, seed: int, country: str, manual_contact: bool = False) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.upgrade()
        practice = generate_practice(clients, seed, country)
        with XpmSimulator(practice=practice, seed=seed) as sim:
            ctx = clocked_context(db, sim, {"SYNCWORKER_DEFAULT_COUNTRY": country})
            add_tenant(db, TENANT)
            if manual_contact:
                for f in CONTACT_FIELDS:
                    set_rule(db, TENANT, field=f, first_sync="manual")
            import_clients(db, TENANT, practice.write_local_csv(Path(tmp) / "clients.csv"))
            import_contacts(db, TENANT, practice.write_local_contacts_csv(Path(tmp) / "contacts.csv"))
            connect_with_refresh_token(ctx, TENANT, "xpm", sim.issue_refresh_token())
            run_link_run(ctx, TENANT, "xpm", trigger="operator")
            rules = ", manual contact" if manual_contact else ""
            out: dict[str, object] = {"practice": f"{clients} clients, seed {seed}, {country}{rules}"}
            with db.session() as s:
                out["linked"] = s.scalar(sa.select(sa.func.count()).select_from(Link).where(Link.status == "linked"))
            for n in (1, 2):
                audit = _count(db, AuditEntry)
                t = time.perf_counter()
                r = run_sync(ctx, TENANT, "xpm", trigger="operator")
                out[f"sync{n}_seconds"] = round(time.perf_counter() - t, 2)
                out[f"sync{n}_status"] = r.status
                out[f"sync{n}_remote_writes"] = r.counts.get("remote_writes", 0)
                out[f"sync{n}_local_writes"] = r.counts.get("local_writes", 0)
                out[f"sync{n}_audit_rows"] = _count(db, AuditEntry) - audit
                if n == 1:
                    out["pushed"] = _tally(f for x in r.records for f in x.get("pushed") or [])
                    out["pulled"] = _tally(f for x in r.records for f in x.get("pulled") or [])
                if n == 1:
                    with db.session() as s:
                        rows = list(s.scalars(sa.select(SyncConflict).where(SyncConflict.status == "open")))
                        profile = [c for c in rows if ":" not in c.field]
                        out["clients_in_conflict"] = len({c.link_id for c in profile})
                        out["conflicts"] = len(profile)
                        out["other_conflicts"] = len(rows) - len(profile)  # relationships, groups
                        out["not_real"] = [(c.field, decode(c.local_value), decode(c.remote_value)) for c in profile
                                           if not _real(c.field, decode(c.local_value), decode(c.remote_value),
                                                        ctx.settings.default_country)]
                        out["by_field"] = _tally(c.field for c in profile)
        db.dispose()
    return out


def _real(field: str, local: object, remote: object, country: str) -> bool:
    a, b = normalise(field, local, country=country), normalise(field, remote, country=country)
    return a is not None and b is not None and a != b


def _tally(fields: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for f in fields:
        counts[f] = counts.get(f, 0) + 1
    return ", ".join(f"{f} {n}" for f, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, nargs="+", default=[400])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--country", default="AU", choices=["AU", "NZ"])
    ap.add_argument("--manual-contact", action="store_true",
                    help="tenant override: contact details that differ at first sync go to an operator")
    args = ap.parse_args()
    print(f"{'practice':<44} {'linked':>6} {'in conflict':>12} {'conflicts':>9} {'not real':>8} "
          f"{'sync1 writes (remote/local)':>28} {'sync2 writes':>12} {'sync1 s':>8}")
    for n in args.clients:
        m = measure(n, args.seed, args.country, args.manual_contact)
        share = m["clients_in_conflict"] / m["linked"] if m["linked"] else 0.0  # type: ignore[operator]
        print(f"{m['practice']:<44} {m['linked']:>6} {m['clients_in_conflict']:>5} ({share:5.1%}) {m['conflicts']:>9} "
              f"{len(m['not_real']):>8} {m['sync1_remote_writes']:>14}/{m['sync1_local_writes']:<13} "  # type: ignore[arg-type]
              f"{m['sync2_remote_writes']}/{m['sync2_local_writes']:<10} {m['sync1_seconds']:>8}")
        print(f"    conflicts by field: {m['by_field'] or '-'}; relationship/group conflicts: {m['other_conflicts']}; "
              f"status {m['sync1_status']}/{m['sync2_status']}; audit rows {m['sync1_audit_rows']}/{m['sync2_audit_rows']}")
        print(f"    sync1 fields pushed: {m['pushed'] or '-'}")
        print(f"    sync1 fields pulled: {m['pulled'] or '-'}")
        for item in m["not_real"][:10]:  # type: ignore[index]
            print(f"    NOT REAL: {item}")


if __name__ == "__main__":
    main()
