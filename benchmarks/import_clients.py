"""Import throughput: a generated 10,000-row canonical CSV into SQLite (and PostgreSQL when reachable).

    .venv/bin/python -m benchmarks.import_clients [--rows 10000] [--postgres URL]

Prints wall time for the first import, a no-op re-import and a re-import with 10% of rows changed.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from syncworker.domain.profile import CLIENT_CSV_COLUMNS
from syncworker.services.importer import import_clients
from syncworker.services.tenants import add_tenant
from syncworker.store.crypto import generate_key
from syncworker.store.db import Database

GIVEN = ["Olivia", "Jack", "Charlotte", "Noah", "Amelia", "William", "Isla", "Oliver", "Mia", "Thomas"]
FAMILY = ["Smith", "Nguyen", "Williams", "Brown", "Wilson", "Taylor", "Kelly", "Martin", "Anderson", "Walker"]


def write_csv(path: Path, rows: int, seed: int, change_every: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, CLIENT_CSV_COLUMNS)
        w.writeheader()
        for i in range(rows):
            g, f = rng.choice(GIVEN), rng.choice(FAMILY)
            person = i % 3 != 0
            name = f"{g} {f}" if person else f"{f} {rng.choice(['Holdings', 'Plumbing', 'Legal'])} Pty Ltd"
            if change_every and i % change_every == 0:
                name += " (changed)"
            w.writerow({
                "id": f"C{i:06d}", "kind": "individual" if person else "company", "name": name,
                "given_name": g if person else "", "family_name": f if person else "",
                "email": f"{g}.{f}{i}@example.com".lower(), "phone": f"02 9{rng.randrange(10**7):07d}",
                "address_line1": f"{rng.randrange(1, 300)} Example St", "city": "Sydney", "postcode": "2000",
                "country": "AU", "date_of_birth": f"19{rng.randrange(40, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}"
                if person else "",
            })


def bench(db: Database, rows: int, workdir: Path) -> None:
    db.upgrade()
    add_tenant(db, "Bench")
    first, same, changed = workdir / "a.csv", workdir / "a.csv", workdir / "b.csv"
    write_csv(first, rows, seed=1)
    write_csv(changed, rows, seed=1, change_every=10)
    for label, path in (("first import", first), ("re-import unchanged", same), ("re-import 10% changed", changed)):
        t0 = time.perf_counter()
        report = import_clients(db, "Bench", path)
        dt = time.perf_counter() - t0
        print(f"  {label:24s} {dt:6.2f} s  ({rows / dt:8.0f} rows/s)  created={report.created} "
              f"updated={report.updated} unchanged={report.unchanged}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--postgres", default="postgresql://127.0.0.1:5432/test")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"SQLite, {args.rows} rows:")
        key = generate_key()  # tax numbers are sealed at rest: part of what an import costs
        bench(Database(f"sqlite:///{work / 'bench.db'}", secret_key=key), args.rows, work)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.postgres.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with admin.begin() as c:
                c.exec_driver_sql(f"CREATE SCHEMA {schema}")
        except Exception as exc:  # noqa: BLE001
            print(f"PostgreSQL skipped: {exc.__class__.__name__}")
            return
        try:
            print(f"PostgreSQL, {args.rows} rows:")
            bench(Database(args.postgres, schema=schema, secret_key=key), args.rows, work)
        finally:
            with admin.begin() as c:
                c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
