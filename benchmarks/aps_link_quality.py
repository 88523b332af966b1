"""Link quality with APS against XPM on the same generated practice: one link run each, on a fresh syncworker
database (SQLite file), XPM through its simulator over real sockets, APS through its stand-in database on
each dialect. Scored with the generator's answer key: linked (right / twin / wrong), to review (right pair, a twin
of it: another record of the same client in the remote list, or neither), merge required, and the true pairs
whose remote record is in the listing but were not linked.

    PYTHONPATH=. .venv/bin/python benchmarks/aps_link_quality.py [--clients 1000] [--seed 7]
        [--dialects sqlite,postgresql,mariadb]

PostgreSQL and MariaDB come from SYNCWORKER_TEST_POSTGRES_URL / SYNCWORKER_TEST_MARIADB_URL (the test
databases); each run works in a schema or database of its own and drops it afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

from adapters.aps.client import engine_url  # noqa: E402
from simulators.aps import build  # noqa: E402
from simulators.xpm import XpmSimulator  # noqa: E402
from syncworker.config import Settings  # noqa: E402
from syncworker.domain.profile import ClientStatus  # noqa: E402
from syncworker.sample import SamplePractice, generate_practice  # noqa: E402
from syncworker.services.aps_connection import connect_aps  # noqa: E402
from syncworker.services.connect import connect_with_refresh_token  # noqa: E402
from syncworker.services.context import ServiceContext  # noqa: E402
from syncworker.services.demo import settings_for_simulator  # noqa: E402
from syncworker.services.importer import import_clients  # noqa: E402
from syncworker.services.link_run import LinkRunReport, run_link_run  # noqa: E402
from syncworker.services.tenants import add_tenant  # noqa: E402
from syncworker.store.crypto import generate_key  # noqa: E402
from syncworker.store.db import Database  # noqa: E402

TENANT = "Bench Practice"
PG_URL = os.environ.get("SYNCWORKER_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("SYNCWORKER_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")


@contextmanager
def aps_database(dialect: str, tmp: Path) -> Iterator[str]:
    name = f"aps_bench_{uuid.uuid4().hex[:8]}"
    if dialect == "sqlite":
        yield f"sqlite:///{tmp / f'{name}.db'}"
        return
    admin_url = PG_URL if dialect == "postgresql" else MARIADB_URL
    admin = sa.create_engine(engine_url(admin_url))
    create, drop = ((f"CREATE SCHEMA {name}", f"DROP SCHEMA IF EXISTS {name} CASCADE") if dialect == "postgresql"
                    else (f"CREATE DATABASE {name} CHARACTER SET utf8mb4", f"DROP DATABASE IF EXISTS {name}"))
    with admin.begin() as conn:
        conn.exec_driver_sql(create)
    url = sa.engine.make_url(engine_url(admin_url))
    url = url.update_query_dict({"options": f"-csearch_path={name}"}) if dialect == "postgresql" \
        else url.set(database=name).update_query_dict({"charset": "utf8mb4"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(drop)
        admin.dispose()


def fresh_context(tmp: Path, label: str, practice: SamplePractice, **settings: Any) -> ServiceContext:
    db = Database(f"sqlite:///{tmp / f'sw_{label}.db'}")
    db.upgrade()
    base = Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url, "SYNCWORKER_SECRET_KEY": generate_key()})
    ctx = ServiceContext(db, base)
    add_tenant(db, TENANT)
    import_clients(db, TENANT, practice.write_local_csv(tmp / f"local_{label}.csv"))
    return ctx


def score(report: LinkRunReport, truth: dict[str, str], listed: set[str],
          twins: dict[str, frozenset[str]]) -> dict[str, Any]:
    """`twins`: remote id -> the remote records of the same client (the remote list's duplicates). A link
    to another record of the answer key's client is not a wrong link (it is that client) but is not the
    record the key names either: counted apart, as `twin`, and not as right."""
    linked = [(x["local_id"], x["remote_id"]) for x in report.linked]
    review = [(x["local_id"], x["remote_id"]) for x in report.to_review]
    reachable = {lid for lid, rid in truth.items() if rid in listed}
    linked_ok = sum(1 for lid, rid in linked if truth.get(lid) == rid)
    twin = sum(1 for lid, rid in linked if truth.get(lid) != rid and rid in twins.get(truth.get(lid, ""), ()))
    return {"status": report.status, "linked": len(linked), "right": linked_ok, "twin": twin,
            "wrong": len(linked) - linked_ok - twin,
            "review": len(review), "review_right": sum(1 for lid, rid in review if truth.get(lid) == rid),
            "review_twin": sum(1 for lid, rid in review
                               if truth.get(lid) != rid and rid in twins.get(truth.get(lid, ""), ())),
            "merge_req": len(report.merge_required), "true_pairs": len(reachable),
            "missed": len(reachable - {lid for lid, _ in linked})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dialects", default="sqlite,postgresql,mariadb")
    args = ap.parse_args()
    practice = generate_practice(args.clients, args.seed)
    rows: list[tuple[str, dict[str, Any], float]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with XpmSimulator(practice=practice, seed=args.seed) as sim:
            ctx = fresh_context(tmp, "xpm", practice)
            ctx.settings = settings_for_simulator(ctx.settings, sim, ctx.settings.secret_key)
            connect_with_refresh_token(ctx, TENANT, "xpm", sim.issue_refresh_token())
            t = time.perf_counter()
            report = run_link_run(ctx, TENANT, "xpm")
            listed = {p.id for p in practice.remote if p.status == ClientStatus.ACTIVE}
            twins = {m: frozenset(g) for g in practice.remote_duplicate_groups for m in g}
            rows.append(("xpm (simulator)", score(report, practice.truth, listed, twins), time.perf_counter() - t))
            ctx.db.dispose()
        for dialect in [d.strip() for d in args.dialects.split(",") if d.strip()]:
            with aps_database(dialect, tmp) as url:
                standin, _ = build(url, args.clients, args.seed, practice=practice)
                ctx = fresh_context(tmp, dialect, practice)
                connect_aps(ctx, TENANT, url)
                t = time.perf_counter()
                report = run_link_run(ctx, TENANT, "aps")
                listed = {standin.ids[p.id] for p in practice.remote if p.status == ClientStatus.ACTIVE}
                twins = {standin.ids[m]: frozenset(standin.ids[x] for x in g if x in standin.ids)
                         for g in practice.remote_duplicate_groups for m in g if m in standin.ids}
                rows.append((f"aps ({dialect})", score(report, standin.truth, listed, twins), time.perf_counter() - t))
                standin.dispose()
                ctx.db.dispose()
    cols = ("status", "linked", "right", "twin", "wrong", "review", "review_right", "review_twin", "merge_req",
            "true_pairs", "missed")
    print(f"link quality, {args.clients} clients, seed {args.seed} (one link run on a fresh database)")
    print(f"{'system':<20}" + "".join(f"{c:>13}" for c in cols) + f"{'seconds':>10}")
    for label, s, took in rows:
        print(f"{label:<20}" + "".join(f"{s[c]!s:>13}" for c in cols) + f"{took:>10.1f}")


if __name__ == "__main__":
    main()
