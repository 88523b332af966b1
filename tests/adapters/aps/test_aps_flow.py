"""APS as a user meets it: `simulate aps`, `import clients`, `connect aps`, `link-run --system aps`,
`sync --system aps`, on a fresh syncworker database, with SQLite, PostgreSQL and MariaDB as the APS side;
and a tenant allowing writes: pushes audited, echoes suppressed, conflicts queued, as with XPM."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from simulators.aps import StandIn, build
from syncworker.cli.main import cli
from syncworker.config import Settings
from syncworker.sample import generate_practice
from syncworker.services.aps_connection import connect_aps
from syncworker.services.context import ServiceContext
from syncworker.services.importer import import_clients
from syncworker.services.link_run import run_link_run
from syncworker.services.links import link_manually
from syncworker.services.sync_run import run_sync
from syncworker.services.tenants import add_tenant
from syncworker.store.crypto import generate_key
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, Client, Link, SyncConflict, TenantSystem

TENANT = "Harbour Accounting"


def invoke(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_commands_on_a_fresh_database(aps_url: str, tmp_path: Path, aps_readonly_login, aps_statements) -> None:  # type: ignore[no-untyped-def]
    """The issue's sequence through the CLI, then connected (as the README advises for APS) with a login that can only
    read: everything works, and every statement that reached the APS database was a SELECT."""
    env = {"SYNCWORKER_DATABASE_URL": f"sqlite:///{tmp_path / 'sw.db'}", "SYNCWORKER_SECRET_KEY": generate_key(),
           "SYNCWORKER_LOG_FORMAT": "text"}
    local = tmp_path / "local.csv"
    created = json.loads(invoke(env, "simulate", "aps", "--database-url", aps_url, "--clients", "120", "--seed", "5",
                                "--write-local", str(local), "--json"))
    assert created["clients"] > 100 and local.exists()
    invoke(env, "db", "upgrade")
    invoke(env, "tenants", "add", TENANT)
    invoke(env, "import", "clients", str(local), "--tenant", TENANT)
    with aps_readonly_login(aps_url) as read_only, aps_statements(aps_url) as log:
        assert "writes: off" in invoke(env, "connect", "aps", "--tenant", TENANT, "--database-url", read_only)
        report = json.loads(invoke(env, "link-run", "--tenant", TENANT, "--system", "aps", "--json"))
        assert report["status"] == "succeeded", report["message"]
        synced = json.loads(invoke(env, "sync", "--tenant", TENANT, "--system", "aps", "--json"))
        again = json.loads(invoke(env, "sync", "--tenant", TENANT, "--system", "aps", "--json"))
    practice = generate_practice(120, 5)
    standin_ids = _ids(practice, aps_url)
    truth = {lid: standin_ids[rid] for lid, rid in practice.truth.items() if rid in standin_ids}
    linked = [(x["local_id"], x["remote_id"]) for x in report["linked"]]
    wrong = [pair for pair in linked if truth.get(pair[0]) != pair[1]]
    assert len(linked) >= 0.75 * len(truth) and wrong == []
    assert synced["status"] == "succeeded" and synced["counts"]["created"] == len(linked)
    assert synced["counts"].get("remote_writes", 0) == 0  # writes are off
    assert again["status"] == "succeeded" and again["counts"]["unchanged"] == len(linked)
    assert again["counts"].get("created", 0) == 0 and again["counts"].get("remote_writes", 0) == 0
    assert len(log.sent) > 20 and [s for s in log.sent if not s.lstrip().upper().startswith("SELECT")] == []
    if aps_url.startswith("sqlite"):  # what SQLite itself ran: no BEGIN, no write; the dialect reads its isolation
        assert len(log.traced) >= len(log.sent)
        assert [s for s in log.traced if not s.startswith("SELECT") and s != "PRAGMA read_uncommitted"] == []


def _ids(practice, aps_url: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The generator's remote ids -> the stand-in's keys (seeding is deterministic: rebuild the map)."""
    live = [p for p in practice.remote if p.status.value != "deleted"]
    return {p.id: str(i) for i, p in enumerate(live, 1)}


def test_connect_aps_stops_on_a_mapping_naming_a_missing_column(tmp_path: Path) -> None:
    aps_url = f"sqlite:///{tmp_path / 'aps.db'}"
    build(aps_url, 10, 1)[0].dispose()
    env = {"SYNCWORKER_DATABASE_URL": f"sqlite:///{tmp_path / 'sw.db'}", "SYNCWORKER_SECRET_KEY": generate_key()}
    invoke(env, "db", "upgrade")
    invoke(env, "tenants", "add", TENANT)
    bad = tmp_path / "aps.yaml"
    bad.write_text((Path(__file__).resolve().parents[3] / "config" / "aps.yaml").read_text()
                   .replace("    given_name: FirstName\n", "    given_name: GivenNames\n"))
    result = CliRunner().invoke(cli, ["connect", "aps", "--tenant", TENANT, "--database-url", aps_url,
                                      "--mapping", str(bad)], env=env)
    assert result.exit_code == 1
    assert "column Entity.GivenNames (clients.fields.given_name) does not exist" in result.output
    assert len(result.output.strip().splitlines()) == 1
    db = Database(env["SYNCWORKER_DATABASE_URL"])
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(TenantSystem)) == 0  # nothing stored
    db.dispose()


# --- a tenant that allows writes ---------------------------------------------------------------------------

@pytest.fixture
def world(sqlite_db: Database, tmp_path: Path) -> Iterator[tuple[ServiceContext, StandIn]]:
    standin, practice = build(f"sqlite:///{tmp_path / 'aps.db'}", 40, 9)
    ctx = ServiceContext(sqlite_db, Settings.load(env={"SYNCWORKER_DATABASE_URL": sqlite_db.connect_url,
                                                       "SYNCWORKER_SECRET_KEY": generate_key()}))
    add_tenant(sqlite_db, TENANT)
    import_clients(sqlite_db, TENANT, practice.write_local_csv(tmp_path / "local.csv"))
    yield ctx, standin
    standin.dispose()


def _linked_pair(ctx: ServiceContext, standin: StandIn) -> tuple[str, str]:
    """A local client linked by hand to its APS record, both with a phone."""
    with ctx.db.session() as s:
        clients = {c.external_id: c for c in s.scalars(sa.select(Client))}
    for lid, eid in standin.truth.items():
        row = standin.row(eid)
        if clients[lid].phone and row["Phone"] and not row["Archived"]:
            link_manually(ctx.db, TENANT, lid, "aps", eid, "operator")
            return lid, eid
    raise AssertionError("no pair with phones")


def test_allowed_fields_are_pushed_audited_and_not_echoed(world: tuple[ServiceContext, StandIn]) -> None:
    ctx, standin = world
    connect_aps(ctx, TENANT, standin.url, allow_writes=["phone", "email"])
    lid, eid = _linked_pair(ctx, standin)
    assert run_sync(ctx, TENANT, "aps").status == "succeeded"
    with ctx.db.session() as s:
        client = s.scalar(sa.select(Client).where(Client.external_id == lid))
        client.phone, client.display_name = "02 8000 1234", client.display_name + " Renamed"
    report = run_sync(ctx, TENANT, "aps")
    assert report.status == "succeeded" and report.counts["remote_writes"] == 1
    row = standin.row(eid)
    assert row["Phone"] == "02 8000 1234" and "Renamed" not in row["Name"]  # name is not an allowed field
    with ctx.db.session() as s:
        audit = s.scalars(sa.select(AuditEntry).where(AuditEntry.target == "aps", AuditEntry.entity_id == eid)).all()
        assert [(a.action, a.after) for a in audit] == [("update", {"phone": "02 8000 1234"})]
    again = run_sync(ctx, TENANT, "aps")
    assert again.counts.get("remote_writes", 0) == 0  # our own write came back: no echo
    # Both sides change the phone: the tenant's rule for APS (as for XPM) prefers the local value.
    standin.edit_client(eid, Phone="07 1111 2222")
    with ctx.db.session() as s:
        s.scalar(sa.select(Client).where(Client.external_id == lid)).phone = "02 8000 9999"
    run_sync(ctx, TENANT, "aps")
    assert standin.row(eid)["Phone"] == "02 8000 9999"


def test_a_remote_edit_is_pulled_and_a_both_sides_edit_queues_a_conflict(world: tuple[ServiceContext, StandIn]) -> None:
    ctx, standin = world
    connect_aps(ctx, TENANT, standin.url, allow_writes=["phone", "given_name"])
    lid, eid = _linked_pair(ctx, standin)
    run_sync(ctx, TENANT, "aps")
    standin.edit_client(eid, Phone="03 9000 0001")
    run_sync(ctx, TENANT, "aps")
    with ctx.db.session() as s:
        assert s.scalar(sa.select(Client.phone).where(Client.external_id == lid)) == "03 9000 0001"
    row = standin.row(eid)
    standin.edit_client(eid, FirstName=(row["FirstName"] or "X") + "a")
    with ctx.db.session() as s:
        c = s.scalar(sa.select(Client).where(Client.external_id == lid))
        c.given_name = (c.given_name or "X") + "b"
    report = run_sync(ctx, TENANT, "aps")
    assert report.counts["conflicts"] == 1 and report.counts.get("remote_writes", 0) == 0
    with ctx.db.session() as s:
        assert s.scalar(sa.select(SyncConflict.field)) == "given_name"


def test_writes_off_sync_and_link_run_send_only_selects(world: tuple[ServiceContext, StandIn]) -> None:
    ctx, standin = world
    connect_aps(ctx, TENANT, standin.url)
    sent: list[str] = []
    base = ctx.adapter_factory

    def recording(c: ServiceContext, tenant_id: int, system: str):  # type: ignore[no-untyped-def]
        adapter = base(c, tenant_id, system)
        sa.event.listen(adapter.engine, "before_cursor_execute", lambda conn, cur, stmt, *a: sent.append(stmt))
        return adapter

    ctx.adapter_factory = recording
    lid, _ = _linked_pair(ctx, standin)
    with ctx.db.session() as s:
        s.scalar(sa.select(Client).where(Client.external_id == lid)).phone = "02 1234 0000"
    assert run_link_run(ctx, TENANT, "aps").status == "succeeded"
    report = run_sync(ctx, TENANT, "aps", full=True)
    assert report.status == "succeeded" and report.counts.get("remote_writes", 0) == 0
    assert sent and [s for s in sent if not s.lstrip().upper().startswith("SELECT")] == []


def test_deletes_are_seen_on_a_complete_read_and_links_to_each_system_are_independent(
        world: tuple[ServiceContext, StandIn]) -> None:
    ctx, standin = world
    connect_aps(ctx, TENANT, standin.url)
    lid, eid = _linked_pair(ctx, standin)
    # The same local client linked to XPM too: a link per system, neither touching the other.
    with ctx.db.session() as s:
        tenant_id = s.scalar(sa.select(Client.tenant_id).where(Client.external_id == lid))
        s.add(TenantSystem(tenant_id=tenant_id, system="xpm", status="connected"))
    link_manually(ctx.db, TENANT, lid, "xpm", "0f0e0d0c-0000-4000-8000-000000000001", "operator")
    run_sync(ctx, TENANT, "aps")
    standin.delete_client(eid)
    incremental = run_sync(ctx, TENANT, "aps")
    assert incremental.deleted == []  # an incremental read cannot see a delete
    full = run_sync(ctx, TENANT, "aps", full=True)
    assert [d["remote_id"] for d in full.deleted] == [eid]
    report = run_link_run(ctx, TENANT, "aps")
    assert [b["remote_id"] for b in report.broken] == [eid]
    with ctx.db.session() as s:
        statuses = dict(s.execute(sa.select(Link.system, Link.status).where(Link.remote_id.in_(
            [eid, "0f0e0d0c-0000-4000-8000-000000000001"]))).all())
    assert statuses == {"aps": "broken", "xpm": "linked"}


def test_without_a_modified_column_syncs_read_whole_and_diff_by_hash(world: tuple[ServiceContext, StandIn],
                                                                      tmp_path: Path) -> None:
    ctx, standin = world
    mapping = tmp_path / "no-modified.yaml"
    mapping.write_text((Path(__file__).resolve().parents[3] / "config" / "aps.yaml").read_text()
                       .replace("  modified: ModifiedDate ", "  modified: null ")
                       .replace("  rowversion: RowVer ", "  rowversion: null "))
    connect_aps(ctx, TENANT, standin.url, mapping_path=str(mapping), allow_writes=["phone"])
    lid, eid = _linked_pair(ctx, standin)
    run_sync(ctx, TENANT, "aps")
    quiet = run_sync(ctx, TENANT, "aps")
    assert quiet.counts["remote_changed"] == 0 and quiet.counts["unchanged"] == 1
    standin.edit_client(eid, Phone="08 7000 0002")
    report = run_sync(ctx, TENANT, "aps")
    assert report.counts["remote_changed"] == 1 and report.counts["pulled_fields"] == 1
    with ctx.db.session() as s:
        assert s.scalar(sa.select(Client.phone).where(Client.external_id == lid)) == "08 7000 0002"
    standin.delete_client(eid)
    assert [d["remote_id"] for d in run_sync(ctx, TENANT, "aps").deleted] == [eid]  # every read is complete


def test_link_runs_over_the_operator_api_with_system_aps(world: tuple[ServiceContext, StandIn]) -> None:
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from syncworker.http.app import create_app
    from syncworker.jobs.inprocess import InProcessExecutor

    ctx, standin = world
    connect_aps(ctx, TENANT, standin.url)
    ctx.settings = replace(ctx.settings, operator_token="t0ken-for-tests")
    executor = InProcessExecutor(ctx, workers=1)
    try:
        with TestClient(create_app(ctx, executor)) as api:
            api.headers["Authorization"] = "Bearer t0ken-for-tests"
            started = api.post("/runs", json={"tenant": TENANT, "kind": "link_run", "system": "aps"})
            assert started.status_code == 202, started.text
            run = api.get(f"/runs/{started.json()['run_id']}").json()
            for _ in range(600):
                if run["status"] not in ("queued", "running"):
                    break
                time.sleep(0.1)
                run = api.get(f"/runs/{started.json()['run_id']}").json()
            assert run["status"] == "succeeded" and run["system"] == "aps"
            linked = api.get("/links", params={"tenant": TENANT, "system": "aps", "status": "linked"}).json()
            assert linked and {x["system"] for x in linked} == {"aps"}
            assert api.post("/connections/sync", json={"tenant": TENANT, "system": "aps"}).status_code == 202
    finally:
        executor.shutdown(wait=True)


def test_local_connections_and_groups_stay_local_with_a_read_only_aps(world: tuple[ServiceContext, StandIn]) -> None:
    from syncworker.services.connections import add_connection
    from syncworker.services.groups import add_group

    ctx, standin = world
    connect_aps(ctx, TENANT, standin.url)
    pairs = list(standin.truth.items())[:2]
    for lid, eid in pairs:
        link_manually(ctx.db, TENANT, lid, "aps", eid, "operator")
    add_connection(ctx.db, TENANT, pairs[0][0], pairs[1][0], "associate")
    add_group(ctx.db, TENANT, "Operator's Own Group", [pairs[0][0], pairs[1][0]])
    with ctx.db.session() as s:
        audited = s.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.target == "aps"))
    for _ in range(2):
        report = run_sync(ctx, TENANT, "aps")
        assert report.status == "succeeded" and report.errors == []
        assert report.counts["relationships_kept_local_read_only"] >= 2  # the connection and the group
        link_report = run_link_run(ctx, TENANT, "aps")
        assert link_report.status == "succeeded" and link_report.errors == []
    with ctx.db.session() as s:  # nothing was written to APS, so nothing is in the log as written there
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.target == "aps")) == audited


@pytest.mark.postgres
def test_simulate_aps_keeps_the_password_of_its_url_off_the_screen(_aps_pg_admin: sa.Engine, tmp_path: Path) -> None:
    """A URL that holds a password is printed with the password hidden, and the hint reads it from standard input
    (PostgreSQL trusts loopback here, so the password is carried but never checked)."""
    schema = f"aps_{uuid.uuid4().hex[:10]}"
    with _aps_pg_admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        user = conn.exec_driver_sql("SELECT current_user").scalar()
    url = (_aps_pg_admin.url.set(username=user, password="s3cret-Pw")
           .update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False))
    env = {"SYNCWORKER_DATABASE_URL": f"sqlite:///{tmp_path / 'sw.db'}", "SYNCWORKER_SECRET_KEY": generate_key()}
    try:
        shown = invoke(env, "simulate", "aps", "--database-url", url, "--clients", "20", "--seed", "2")
        assert "s3cret-Pw" not in shown and f"{user}:***@" in shown
        assert "--database-url -\n" in shown
        invoke(env, "db", "upgrade")
        invoke(env, "tenants", "add", TENANT)
        result = CliRunner().invoke(cli, ["connect", "aps", "--tenant", TENANT, "--database-url", "-"], env=env,
                                    input=url + "\n", catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "writes: off" in result.output and "s3cret-Pw" not in result.output
        db = Database(env["SYNCWORKER_DATABASE_URL"])
        with db.session() as s:  # the audit entry and the connection's label name the database, not its password
            audit = s.scalar(sa.select(AuditEntry).where(AuditEntry.entity == "credentials"))
            label = s.scalar(sa.select(TenantSystem.remote_tenant_id).where(TenantSystem.system == "aps"))
        db.dispose()
        assert "s3cret-Pw" not in json.dumps(audit.after) and "s3cret-Pw" not in label
    finally:
        with _aps_pg_admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
