"""The link run reads each table it needs once: the tenant's clients feed both its snapshot (what it links)
and the duplicate search, and every read of them decrypts each client's tax number."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import event

from simulators.xpm import XpmSimulator
from syncworker.sample import generate_practice
from syncworker.services.link_run import run_link_run
from syncworker.store.db import Database
from tests.simulated import clocked_context, connect_practice

TENANT = "Harbour Accounting"
CLIENTS_READ = re.compile(r"\bFROM clients\b.*\bmerged_into_id IS NULL", re.IGNORECASE | re.DOTALL)


def test_a_link_run_reads_the_clients_once(sqlite_db: Database, tmp_path: Path) -> None:
    practice = generate_practice(40, seed=5)
    with XpmSimulator(practice=practice, seed=5) as sim:
        ctx = clocked_context(sqlite_db, sim)
        connect_practice(ctx, sim, TENANT, practice, tmp_path, contacts=True)
        reads: list[str] = []

        def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            if CLIENTS_READ.search(statement):
                reads.append(statement)

        event.listen(sqlite_db.engine, "before_cursor_execute", count)
        try:
            report = run_link_run(ctx, TENANT, "xpm")
        finally:
            event.remove(sqlite_db.engine, "before_cursor_execute", count)
    assert report.status == "succeeded" and report.counts["local_clients"] > 0, report.message
    assert len(reads) == 1, reads  # was 2: the snapshot's read, then the duplicate search's
