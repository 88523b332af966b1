"""The first sync after linking, measured: a generated practice on both sides (the demo's data, or any
size and seed), imported locally, its XPM side served by our XPM simulator over real sockets or by the strict
XPM written from the public docs (tests/adapters/xpm_strict_fake.py, over the production adapter's HTTP
stack), a link run, a dry run, then two syncs.

    PYTHONPATH=. .venv/bin/python benchmarks/first_sync.py                       # the demo: 400 clients, seed 7
    PYTHONPATH=. .venv/bin/python benchmarks/first_sync.py --clients 200 1000 --seeds 7 3 --xpm simulator strict
    PYTHONPATH=. .venv/bin/python benchmarks/first_sync.py --clients 1000 --seeds 3 --country NZ
    PYTHONPATH=. .venv/bin/python benchmarks/first_sync.py --rules manual-contact  # every real contact difference asked
    PYTHONPATH=. .venv/bin/python benchmarks/first_sync.py --rules manual-all      # every real difference asked

Prints per run: linked clients, clients with open conflicts after the first sync (and their share: the issue
asks for at most one in five), open conflicts, conflicts that are not a real disagreement (a blank side, or
two values equal in meaning: must be 0), whether the dry run said exactly what the sync then wrote and
opened, the writes of the first sync (remote updates / local record writes) and of the second sync as the
XPM server counted them (PUT/POST calls) and as our run counted local writes (must be 0/0), and the calls
the strict XPM refused (must be 0). Below each row: conflicts by field, fields written by the first sync,
and a sample of the open conflicts and of the first-sync writes that replaced a non-blank value (the rule
deciding a real difference), to read by eye.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import responses  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from simulators.xpm import XpmSimulator  # noqa: E402
from syncworker.domain.sync import decode, normalise  # noqa: E402
from syncworker.sample import SamplePractice, generate_practice  # noqa: E402
from syncworker.services.connect import connect_with_refresh_token  # noqa: E402
from syncworker.services.context import ServiceContext  # noqa: E402
from syncworker.services.field_rules import set_rule  # noqa: E402
from syncworker.services.importer import import_clients, import_contacts  # noqa: E402
from syncworker.services.link_run import run_link_run  # noqa: E402
from syncworker.services.sync_run import run_sync  # noqa: E402
from syncworker.services.tenants import add_tenant  # noqa: E402
from syncworker.store.db import Database  # noqa: E402
from syncworker.store.models import AuditEntry, Client, Link, SyncConflict  # noqa: E402
from tests.simulated import clocked_context  # noqa: E402
from tests.sync.strict_practice import connect_strict, strict_context, strict_practice  # noqa: E402

TENANT = "Demo Practice"

# --rules manual-contact: a tenant that wants to see every real difference in contact details at the first
# sync; manual-all: every field of every pair (identity too).
CONTACT_FIELDS = ("email", "phone", "mobile", "website", *(f"{a}.{p}" for a in ("address", "postal_address")
                                                           for p in ("line1", "line2", "city", "region", "postcode",
                                                                     "country")))
IDENTITY_FIELDS = ("name", "given_name", "middle_name", "family_name", "date_of_birth", "business_number",
                   "company_number")
RULES = {"default": (), "manual-contact": CONTACT_FIELDS, "manual-all": CONTACT_FIELDS + IDENTITY_FIELDS}


class World:
    """A context on one XPM (simulator or strict fake) and how that server counts what was asked of it."""

    def __init__(self, ctx: ServiceContext, connect: Callable[[], None], writes: Callable[[], int],
                 rejected: Callable[[], list[str]], tick: Callable[[], None]) -> None:
        self.ctx, self.connect, self.writes, self.rejected, self.tick = ctx, connect, writes, rejected, tick


@contextlib.contextmanager
def _simulator(db: Database, practice: SamplePractice, seed: int, env: dict[str, str]) -> Iterator[World]:
    with XpmSimulator(practice=practice, seed=seed) as sim:
        ctx = clocked_context(db, sim, env)
        yield World(ctx, lambda: connect_with_refresh_token(ctx, TENANT, "xpm", sim.issue_refresh_token()),
                    lambda: sum(v for k, v in sim.stats.calls.items() if k.startswith(("PUT", "POST"))),
                    lambda: [], lambda: sim.clock.advance(600))


@contextlib.contextmanager
def _strict(db: Database, practice: SamplePractice, seed: int, env: dict[str, str]) -> Iterator[World]:
    fake = strict_practice(practice)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        ctx = strict_context(db, fake, env)
        yield World(ctx, lambda: connect_strict(ctx, TENANT),
                    lambda: sum(v for k, v in fake.calls.items() if k.startswith(("PUT", "POST"))),
                    lambda: list(fake.rejected), lambda: fake.tick(600))


def measure(clients: int, seed: int, country: str, xpm: str = "simulator", rules: str = "default") -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.upgrade()
        practice = generate_practice(clients, seed, country)
        world = {"simulator": _simulator, "strict": _strict}[xpm]
        with world(db, practice, seed, {"SYNCWORKER_DEFAULT_COUNTRY": country}) as w:
            ctx = w.ctx
            add_tenant(db, TENANT)
            for f in RULES[rules]:
                set_rule(db, TENANT, field=f, first_sync="manual")
            import_clients(db, TENANT, practice.write_local_csv(Path(tmp) / "clients.csv"))
            import_contacts(db, TENANT, practice.write_local_contacts_csv(Path(tmp) / "contacts.csv"))
            w.connect()
            link = run_link_run(ctx, TENANT, "xpm", trigger="operator")
            out: dict[str, Any] = {"xpm": xpm, "practice": f"{clients}, seed {seed}, {country}", "rules": rules,
                                   "link_status": link.status}
            out["linked"] = _count(db, Link, Link.status == "linked")

            # The dry run: what the first sync would write and open, with nothing written.
            w.tick()
            before = (w.writes(), _count(db, AuditEntry), _count(db, SyncConflict))
            dry = run_sync(ctx, TENANT, "xpm", dry_run=True, trigger="operator")
            out["dry_wrote"] = (w.writes(), _count(db, AuditEntry), _count(db, SyncConflict)) != before
            would_write = [(x["local_id"], wr) for x in dry.records for wr in x.get("would_write") or []]
            would_open = sorted((x["local_id"], c["field"]) for x in dry.records for c in x.get("would_open") or [])

            for n in (1, 2):
                w.tick()
                server, local_rows = w.writes(), _local_client_writes(db)
                t = time.perf_counter()
                r = run_sync(ctx, TENANT, "xpm", trigger="operator")
                out[f"sync{n}_seconds"] = round(time.perf_counter() - t, 2)
                out[f"sync{n}_status"] = r.status
                out[f"sync{n}_server_writes"] = w.writes() - server
                out[f"sync{n}_remote_writes"] = r.counts.get("remote_writes", 0)
                out[f"sync{n}_local_writes"] = r.counts.get("local_writes", 0)
                out[f"sync{n}_local_audit"] = _local_client_writes(db) - local_rows
                if n == 1:
                    out["pushed"] = _tally(f for x in r.records for f in x.get("pushed") or [])
                    out["pulled"] = _tally(f for x in r.records for f in x.get("pulled") or [])
                    pushed = sorted((x["local_id"], f) for x in r.records for f in x.get("pushed") or [])
                    pulled = sorted((x["local_id"], f) for x in r.records for f in x.get("pulled") or [])
                    with db.session() as s:
                        rows = s.execute(sa.select(SyncConflict, Client.external_id)
                                         .join(Link, Link.id == SyncConflict.link_id)
                                         .join(Client, Client.id == Link.client_id)
                                         .where(SyncConflict.status == "open")).all()
                        profile = [(c, lid) for c, lid in rows if ":" not in c.field]
                        opened = sorted((lid, c.field) for c, lid in profile)
                        out["clients_in_conflict"] = len({c.link_id for c, _ in profile})
                        out["conflicts"] = len(profile)
                        out["other_conflicts"] = len(rows) - len(profile)  # relationships, groups
                        values = [(c.field, decode(c.local_value), decode(c.remote_value), c.reason)
                                  for c, _ in profile]
                    out["not_real"] = [v for v in values if not _real(v[0], v[1], v[2], country)]
                    out["conflict_sample"] = _sample(values)
                    out["by_field"] = _tally(c[0] for c in values)
                    # The dry run said it: the same writes and the same conflicts, pair by pair.
                    dry_push = sorted((lid, wr["field"]) for lid, wr in would_write if wr["to"] == "remote")
                    dry_pull = sorted((lid, wr["field"]) for lid, wr in would_write if wr["to"] == "local")
                    out["dry_agrees"] = (dry_push, dry_pull, would_open) == (pushed, pulled, opened) \
                        and not out["dry_wrote"]
                    # First-sync writes over a non-blank value: the field's rule settling a difference.
                    overrides = [(wr["field"], wr["value"] if wr["to"] == "remote" else wr["from"],
                                  wr["from"] if wr["to"] == "remote" else wr["value"], wr["reason"])
                                 for _, wr in would_write if wr["from"] not in (None, "")]
                    out["overrides"] = len(overrides)
                    out["override_not_real"] = [v for v in overrides if not _real(v[0], v[1], v[2], country)]
                    out["override_sample"] = _sample(overrides)
                    out["fills"] = len(would_write) - len(overrides)
            out["rejected"] = w.rejected()
        db.dispose()
    return out


def _real(field: str, local: object, remote: object, country: str) -> bool:
    a, b = normalise(field, local, country=country), normalise(field, remote, country=country)
    return a is not None and b is not None and a != b


def _sample(values: list[tuple[Any, ...]], per_field: int = 2) -> list[tuple[Any, ...]]:
    seen: dict[str, int] = {}
    out = []
    for v in values:
        if seen.get(v[0], 0) < per_field:
            seen[v[0]] = seen.get(v[0], 0) + 1
            out.append(v)
    return out


def _tally(fields: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for f in fields:
        counts[f] = counts.get(f, 0) + 1
    return ", ".join(f"{f} {n}" for f, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _count(db: Database, model: type, *where: Any) -> int:
    with db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


def _local_client_writes(db: Database) -> int:
    return _count(db, AuditEntry, AuditEntry.target == "local", AuditEntry.entity == "client")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, nargs="+", default=[400])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7])
    ap.add_argument("--country", default="AU", choices=["AU", "NZ"])
    ap.add_argument("--xpm", nargs="+", default=["simulator"], choices=["simulator", "strict"],
                    help="our XPM simulator (real sockets) and/or the strict XPM written from the public docs")
    ap.add_argument("--rules", default="default", choices=sorted(RULES),
                    help="tenant overrides: first-sync differences of contact details (or of every field) go to "
                         "an operator")
    ap.add_argument("--quiet", action="store_true", help="the table only")
    args = ap.parse_args()
    head = (f"{'xpm':<9} {'practice':<18} {'rules':<14} {'linked':>6} {'in conflict':>13} {'conflicts':>9} "
            f"{'not real':>8} {'dry=real':>8} {'sync1 writes r/l':>16} {'sync2 writes r/l':>16} {'rejected':>8} "
            f"{'sync1 s':>7}")
    print(head)
    details = []
    for xpm in args.xpm:
        for seed in args.seeds:
            for n in args.clients:
                m = measure(n, seed, args.country, xpm, args.rules)
                share = m["clients_in_conflict"] / m["linked"] if m["linked"] else 0.0
                ok = "ok" if share <= 0.2 else "OVER"
                print(f"{xpm:<9} {m['practice']:<18} {m['rules']:<14} {m['linked']:>6} "
                      f"{m['clients_in_conflict']:>4} ({share:5.1%}) {ok:<4} {m['conflicts']:>4} "
                      f"{len(m['not_real']):>8} {'yes' if m['dry_agrees'] else 'NO':>8} "
                      f"{m['sync1_server_writes']:>8}/{m['sync1_local_writes']:<7} "
                      f"{m['sync2_server_writes']:>8}/{m['sync2_local_writes']:<7} {len(m['rejected']):>8} "
                      f"{m['sync1_seconds']:>7}", flush=True)
                details.append(m)
    if args.quiet:
        return
    for m in details:
        print(f"\n== {m['xpm']}, {m['practice']}, rules {m['rules']}: link run {m['link_status']}, "
              f"syncs {m['sync1_status']}/{m['sync2_status']}; sync1 remote writes counted by the run "
              f"{m['sync1_remote_writes']}, by the server {m['sync1_server_writes']}; local writes audited "
              f"{m['sync1_local_audit']}/{m['sync2_local_audit']}")
        print(f"   conflicts by field: {m['by_field'] or '-'}; relationship/group conflicts: {m['other_conflicts']}")
        print(f"   sync1 pushed: {m['pushed'] or '-'}")
        print(f"   sync1 pulled: {m['pulled'] or '-'}")
        print(f"   sync1 writes: {m['fills']} fills of a blank side, {m['overrides']} over a different value "
              f"({len(m['override_not_real'])} of them equal in meaning)")
        for field, local, remote, reason in m["conflict_sample"]:
            print(f"   CONFLICT {field}: local {local!r} | remote {remote!r}  ({reason})")
        for field, local, remote, reason in m["override_sample"]:
            print(f"   RULE     {field}: local {local!r} | remote {remote!r}  ({reason})")
        for item in (m["not_real"] + m["override_not_real"])[:10]:
            print(f"   NOT REAL: {item}")
        for why in m["rejected"][:5]:
            print(f"   REJECTED by the strict XPM: {why}")


if __name__ == "__main__":
    main()
