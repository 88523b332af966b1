"""What a practice's APS server answers per job: a first link run, a first sync and later syncs send a small
number of queries, the same for 50 clients as for 500 (one query per table per page of 500), on SQLite,
PostgreSQL and MariaDB. Before reads by id were batched, relationships cost three queries a linked client
(its record, its addresses, its relationships): ~600 for a 500-client first sync, ~18,000 round trips over the
practice's VPN at 15,000 clients. Every statement any engine sends to the APS database is counted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from simulators.aps import build
from syncworker.config import Settings
from syncworker.services.aps_connection import connect_aps
from syncworker.services.context import ServiceContext
from syncworker.services.importer import import_clients
from syncworker.services.link_run import run_link_run
from syncworker.services.sync_run import run_sync
from syncworker.services.tenants import add_tenant
from syncworker.store.crypto import generate_key
from syncworker.store.db import Database

TENANT = "Harbour Accounting"
PAGE = 500  # config/aps.yaml's page_size
# A run's fixed cost: the mapping check every run starts with (a connection test, one probe per table, one per
# key) = 9; then per page of clients: the clients and their addresses. A first link run adds the new links'
# relationships: one query per page of keys (their records are in the cache from the pull: reading them again
# made it 15).
MOST = {"first link run": 13, "first sync": 13, "sync after edits": 11, "quiet sync": 11}
# A link run after a full listing that left out 12 archived linked clients: the mapping check (9), the incremental
# read and its addresses (2), the archived clients and their addresses (2). Read one by one they were 2 each: 35.
MOST_WITH_ARCHIVED = 13


def queries_per_job(aps_url: str, clients: int, tmp: Path, aps_statements) -> dict[str, int]:  # type: ignore[no-untyped-def]
    standin, practice = build(aps_url, clients, 5, replace=True)
    assert standin.counts["clients"] < PAGE  # one page either way: the counts must not differ at all
    db = Database(f"sqlite:///{tmp / f'sw_{clients}.db'}")
    db.upgrade()
    ctx = ServiceContext(db, Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url,
                                                "SYNCWORKER_SECRET_KEY": generate_key()}))
    add_tenant(db, TENANT)
    import_clients(db, TENANT, practice.write_local_csv(tmp / f"local_{clients}.csv"))
    connect_aps(ctx, TENANT, aps_url)
    sent: dict[str, int] = {}
    try:
        with aps_statements(aps_url) as log:
            report = run_link_run(ctx, TENANT, "aps")
        assert report.status == "succeeded" and len(report.linked) > 0.6 * clients
        assert "relationships_relationship_owners_pending" not in report.counts  # every owner read, in this run
        assert report.counts["relationships_relationship_owners_fetched"] == len(report.linked)
        sent["first link run"] = len(log.sent)
        with aps_statements(aps_url) as log:
            assert run_sync(ctx, TENANT, "aps").status == "succeeded"
        sent["first sync"] = len(log.sent)
        for entity_id in list(standin.ids.values())[:20]:
            standin.edit_client(entity_id, Phone="02 9333 0000")
        with aps_statements(aps_url) as log:
            assert run_sync(ctx, TENANT, "aps").status == "succeeded"
        sent["sync after edits"] = len(log.sent)
        with aps_statements(aps_url) as log:
            assert run_sync(ctx, TENANT, "aps").status == "succeeded"
        sent["quiet sync"] = len(log.sent)
    finally:
        standin.dispose()
        db.dispose()
    return sent


def test_a_first_sync_costs_the_same_few_queries_for_50_clients_as_for_500(aps_url: str, tmp_path: Path,
                                                                          aps_statements) -> None:  # type: ignore[no-untyped-def]
    small = queries_per_job(aps_url, 50, tmp_path, aps_statements)
    large = queries_per_job(aps_url, 500, tmp_path, aps_statements)
    assert large == small, (small, large)
    assert all(large[job] <= most for job, most in MOST.items()), large


def test_a_link_run_reads_archived_linked_clients_a_page_at_a_time(aps_url: str, tmp_path: Path,
                                                                   aps_statements) -> None:  # type: ignore[no-untyped-def]
    """A full listing leaves archived clients out, so a link run asks for its linked ones that are not in the
    cache: one query for a page of their keys and one for their addresses, not two per client (at 15,000
    clients, a practice's archived linked clients cost thousands of round trips)."""
    standin, practice = build(aps_url, 60, 5, replace=True)
    db = Database(f"sqlite:///{tmp_path / 'sw.db'}")
    db.upgrade()
    ctx = ServiceContext(db, Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url,
                                                "SYNCWORKER_SECRET_KEY": generate_key()}))
    add_tenant(db, TENANT)
    import_clients(db, TENANT, practice.write_local_csv(tmp_path / "local.csv"))
    connect_aps(ctx, TENANT, aps_url)
    try:
        first = run_link_run(ctx, TENANT, "aps")
        archived = [entry["remote_id"] for entry in first.linked[:12]]
        assert len(archived) == 12, first.message
        standin.clock = lambda: datetime(2001, 1, 1, tzinfo=UTC)  # archived long before the last full sync read
        for entity_id in archived:
            standin.edit_client(entity_id, Archived=1)
        # A full sync's listing lacks them: the cache marks them missing, and the next link run must ask.
        assert run_sync(ctx, TENANT, "aps", full=True).status == "succeeded"
        with aps_statements(aps_url) as log:
            again = run_link_run(ctx, TENANT, "aps")
    finally:
        standin.dispose()
        db.dispose()
    assert again.status == "succeeded" and again.counts["broken"] == 0, again.message
    assert again.counts["links_kept"] == len(first.linked)  # the archived ones' links stand
    assert len(log.sent) <= MOST_WITH_ARCHIVED, log.sent
