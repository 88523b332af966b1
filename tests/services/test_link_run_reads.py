"""The link run reads each table it needs once: the tenant's clients feed both its snapshot (what it links)
and the duplicate search, and every read of them decrypts each client's tax number. It builds their profiles
once too, for its matching and for the duplicate search (15,000 profiles cost ~0.4 s of CPU)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import event

from simulators.xpm import XpmSimulator
from syncworker.sample import generate_practice
from syncworker.services import duplicates, link_run
from syncworker.services.link_run import run_link_run
from syncworker.store import mapping
from syncworker.store.db import Database
from tests.simulated import clocked_context, connect_practice

TENANT = "Harbour Accounting"
CLIENTS_READ = re.compile(r"\bFROM clients\b.*\bmerged_into_id IS NULL", re.IGNORECASE | re.DOTALL)


def test_a_link_run_reads_the_clients_once_and_builds_their_profiles_once(
        sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []

    def client_profile(row):  # type: ignore[no-untyped-def]
        built.append(row.id)
        return mapping.client_profile(row)

    for module in (duplicates, link_run):  # wherever a link run could build them
        monkeypatch.setattr(module, "client_profile", client_profile, raising=False)
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
    assert sorted(built) == sorted(set(built)) and len(built) == report.counts["local_clients"]  # was twice each
