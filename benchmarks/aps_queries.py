"""Queries sent to the APS database per job: the round trips a practice's on-premises SQL Server (often over a
VPN) answers, against the practice's size.

For each size, a generated practice is seeded into the APS stand-in database (`simulators/aps/`) on the chosen
dialects, the matching local clients are imported into a fresh syncworker database (SQLite file), and the real
jobs run with the production adapter:

    first link run        full read, matching, the new links' relationships
    first sync            profiles of every linked pair, family groups
    sync after N edits    N clients edited in APS: an incremental read
    quiet sync            nothing changed
    second link run       incremental read, matching again
    catch-up syncs        further syncs until no linked client's relationships wait to be read (a budget per
                          run spreads reads a system cannot batch over runs); "runs" says how many

Every statement any engine sends to the APS database is counted (SQLAlchemy's `before_cursor_execute`, heard
on every engine, so the mapping check each run starts with is counted too). "queries / 1,000 clients" shows
whether a job grows with the practice.

    PYTHONPATH=. .venv/bin/python benchmarks/aps_queries.py [--sizes 50 500 5000] [--edits 20]
        [--dialects mariadb,sqlite,postgresql]

PostgreSQL and MariaDB come from SYNCWORKER_TEST_POSTGRES_URL / SYNCWORKER_TEST_MARIADB_URL, as for
`aps_link_quality.py` (a schema or database of its own per run, dropped afterwards).

Measured on MariaDB, seed 7 (queries; before = main fee5c5b, relationships read three queries a linked client,
20 clients a link run and 200 a sync; after = a page of 500 keys per query, 9 of each run's queries being the
mapping check):

    clients  first link run  first sync  sync after 20 edits  quiet sync  second link run  catch-up syncs
    50       72 -> 15        79 -> 13    11 -> 11             11 -> 11    11 -> 11         -
    500      72 -> 15        613 -> 13   596 -> 11            11 -> 11    11 -> 11         -
    5,000    90 -> 57        613 -> 13   611 -> 11            611 -> 11   71 -> 11         18 runs, 10,443 -> none

Then the records of the clients whose relationships are read were no longer read again (they are in the records
cache from the pull, and APS's records never carry relationships): first link run, before -> after (main
35af42e -> the commit that stopped the re-read), MariaDB, seed 7; the other jobs unchanged:

    clients  first link run
    50       15 -> 13
    500      15 -> 13
    5,000    57 -> 39
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

from adapters.aps.client import engine_url  # noqa: E402
from benchmarks.aps_link_quality import TENANT, aps_database, fresh_context  # noqa: E402
from simulators.aps import build  # noqa: E402
from syncworker.sample import generate_practice  # noqa: E402
from syncworker.services.aps_connection import connect_aps  # noqa: E402
from syncworker.services.link_run import run_link_run  # noqa: E402
from syncworker.services.sync_run import run_sync  # noqa: E402

PENDING = "relationships_relationship_owners_pending"
MAX_CATCH_UP = 200


@contextmanager
def queries_to(url: str) -> Iterator[list[str]]:
    """Every statement sent to the database `url` names, by any engine, while the block runs."""
    u = sa.engine.make_url(engine_url(url))
    target = (u.database, u.query.get("options"))
    sent: list[str] = []

    def heard(conn: sa.Connection, cursor: object, statement: str, *args: object) -> None:
        if (conn.engine.url.database, conn.engine.url.query.get("options")) == target:
            sent.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", heard)
    try:
        yield sent
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", heard)


def measure(size: int, dialect: str, edits: int, seed: int, tmp: Path) -> list[dict[str, Any]]:
    practice = generate_practice(size, seed)
    rows: list[dict[str, Any]] = []
    with aps_database(dialect, tmp) as url:
        standin, _ = build(url, size, seed, practice=practice)
        ctx = fresh_context(tmp, f"{dialect}_{size}", practice)
        connect_aps(ctx, TENANT, url)

        def job(label: str, run: Callable[[], Any]) -> Any:
            t = time.perf_counter()
            with queries_to(url) as sent:
                report = run()
            rows.append({"clients": size, "dialect": dialect, "job": label, "status": report.status,
                         "queries": len(sent), "runs": 1, "wall": time.perf_counter() - t,
                         "pending": report.counts.get(PENDING, 0)})
            return report

        linked = len(job("first link run", lambda: run_link_run(ctx, TENANT, "aps")).linked)
        rows[-1]["note"] = f"{linked} linked"
        job("first sync", lambda: run_sync(ctx, TENANT, "aps"))
        for entity_id in list(standin.ids.values())[:edits]:
            standin.edit_client(entity_id, Phone="02 9333 0000")
        job(f"sync after {edits} edits", lambda: run_sync(ctx, TENANT, "aps"))
        job("quiet sync", lambda: run_sync(ctx, TENANT, "aps"))
        job("second link run", lambda: run_link_run(ctx, TENANT, "aps"))
        catch_up = {"clients": size, "dialect": dialect, "job": "catch-up syncs", "status": "-", "queries": 0,
                    "runs": 0, "wall": 0.0, "pending": rows[-1]["pending"]}
        while catch_up["pending"] and catch_up["runs"] < MAX_CATCH_UP:
            job("catch-up", lambda: run_sync(ctx, TENANT, "aps"))
            last = rows.pop()
            catch_up.update(status=last["status"], queries=catch_up["queries"] + last["queries"],
                            runs=catch_up["runs"] + 1, wall=catch_up["wall"] + last["wall"], pending=last["pending"])
        rows.append(catch_up)
        standin.dispose()
        ctx.db.dispose()
    return rows


def print_row(r: dict[str, Any]) -> None:
    per_k = 1000 * r["queries"] / r["clients"]
    print(f"| {r['clients']:,} | {r['dialect']} | {r['job']} | {r['status']} | {r['runs']} | {r['queries']} "
          f"| {per_k:.1f} | {r['pending']} | {r['wall']:.1f} | {r.get('note', '')} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 500, 5000])
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dialects", default="mariadb")
    args = ap.parse_args()
    print("| clients | dialect | job | status | runs | queries | queries / 1,000 clients "
          "| relationships left to read | wall s | note |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp_name:
        for dialect in [d.strip() for d in args.dialects.split(",") if d.strip()]:
            for size in args.sizes:
                for row in measure(size, dialect, args.edits, args.seed, Path(tmp_name)):
                    print_row(row)


if __name__ == "__main__":
    main()
