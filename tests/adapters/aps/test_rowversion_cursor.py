"""A mapping with a rowversion column and no modified column: syncs read incrementally on the rowversion (the
shared pull loop stores the adapter's `rv:<n>` token and hands it back), not whole; a stored time cursor from
before still works; a deleted row is seen only on a complete read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from simulators.aps import StandIn, build
from syncworker.config import Settings
from syncworker.services.aps_connection import connect_aps
from syncworker.services.context import ServiceContext
from syncworker.services.importer import import_clients
from syncworker.services.pull import STREAM, Checkpoints
from syncworker.services.sync_run import run_sync
from syncworker.services.tenants import add_tenant
from syncworker.store.crypto import generate_key
from syncworker.store.db import Database
from syncworker.store.models import Tenant
from tests.adapters.aps.test_aps_flow import TENANT, _linked_pair

MAPPING = Path(__file__).resolve().parents[3] / "config" / "aps.yaml"


@pytest.fixture
def rv_world(sqlite_db: Database, aps_url: str, tmp_path: Path) -> Iterator[tuple[ServiceContext, StandIn]]:
    standin, practice = build(aps_url, 40, 9)
    ctx = ServiceContext(sqlite_db, Settings.load(env={"SYNCWORKER_DATABASE_URL": sqlite_db.connect_url,
                                                       "SYNCWORKER_SECRET_KEY": generate_key()}))
    add_tenant(sqlite_db, TENANT)
    import_clients(sqlite_db, TENANT, practice.write_local_csv(tmp_path / "local.csv"))
    mapping = tmp_path / "rowversion-only.yaml"
    text = MAPPING.read_text()
    assert "  modified: ModifiedDate " in text and "  rowversion: RowVer " in text
    mapping.write_text(text.replace("  modified: ModifiedDate ", "  modified: null "))
    connect_aps(ctx, TENANT, standin.url, mapping_path=str(mapping))
    yield ctx, standin
    standin.dispose()


def rows_read(report) -> int:  # type: ignore[no-untyped-def]
    """Client rows the sync's pull received from APS (each is new, changed or unchanged in the records cache)."""
    return sum(report.counts.get(f"remote_{k}", 0) for k in ("new", "changed", "unchanged"))


def listings(log) -> list[str]:  # type: ignore[no-untyped-def]
    """The ORDER BY of each statement that listed client rows (full: by the key; incremental: by RowVer)."""
    plain = [" ".join(s.replace('"', "").replace("`", "").split()) for s in log.sent]
    return [s.split("ORDER BY ")[1].split(" ")[0] for s in plain if "FROM Entity" in s and "ORDER BY Entity." in s]


def test_without_a_modified_column_syncs_read_only_rows_changed_after_the_stored_rowversion(
        rv_world: tuple[ServiceContext, StandIn], aps_statements) -> None:  # type: ignore[no-untyped-def]
    ctx, standin = rv_world
    lid, eid = _linked_pair(ctx, standin)
    with standin.engine.connect() as conn:
        t = standin.table("Entity")
        active = conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.Archived == sa.false())).scalar()
    first = run_sync(ctx, TENANT, "aps")
    assert first.status == "succeeded" and rows_read(first) == active  # the first sync reads whole

    quiet = run_sync(ctx, TENANT, "aps")
    assert rows_read(quiet) == 0

    standin.edit_client(eid, Phone="08 7000 0003")
    with aps_statements(standin.url) as log:
        second = run_sync(ctx, TENANT, "aps")
    assert rows_read(second) == 1 and second.counts["remote_changed"] == 1
    assert listings(log) == ["Entity.RowVer"]  # one page after the stored rowversion, no listing by key

    standin.delete_client(eid)
    incremental = run_sync(ctx, TENANT, "aps")
    assert incremental.deleted == [] and rows_read(incremental) == 0  # an incremental read cannot see a delete
    full = run_sync(ctx, TENANT, "aps", full=True)
    assert [d["remote_id"] for d in full.deleted] == [eid]
    assert rows_read(full) == active - 1
    assert lid


def test_a_stored_time_cursor_still_works_and_gives_way_to_the_rowversion(
        rv_world: tuple[ServiceContext, StandIn]) -> None:
    ctx, standin = rv_world
    run_sync(ctx, TENANT, "aps")
    with ctx.db.session() as s:
        tenant_id = s.scalar(sa.select(Tenant.id).where(Tenant.name == TENANT))
    store = Checkpoints(ctx.db, tenant_id, "aps")
    assert store.load(STREAM)["cursor_token"].startswith("rv:")
    with ctx.db.session() as s:  # a checkpoint stored before rowversion cursors: an ISO time
        store.save(s, STREAM, {"cursor": "2026-01-01T00:00:00+00:00", "mode": None, "resume": None})
    _, eid = _linked_pair(ctx, standin)
    standin.edit_client(eid, Phone="08 7000 0004")
    whole = run_sync(ctx, TENANT, "aps")  # the time cursor cannot be used without a modified column: read whole
    assert whole.status == "succeeded" and whole.counts["remote_changed"] == 1 and rows_read(whole) > 1
    assert store.load(STREAM)["cursor_token"].startswith("rv:")
    standin.edit_client(eid, Phone="08 7000 0005")
    assert rows_read(run_sync(ctx, TENANT, "aps")) == 1
