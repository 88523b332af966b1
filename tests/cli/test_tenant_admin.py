"""`tenants remove` and `disconnect`: a practice's data goes (its audit entries stay, detached); a system's
stored tokens go (its links stay) and runs then say how to connect again."""

from __future__ import annotations

import json

import sqlalchemy as sa
from click.testing import CliRunner, Result

from syncworker.cli.main import cli
from syncworker.services.tenants import add_tenant
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, Client, JobRun, Link, Tenant, TenantSystem
from syncworker.store.types import utcnow
from tests.factories import make_client

TENANT = "Harbour Accounting"


def run(db: Database, *args: str, input: str | None = None) -> Result:
    env = {"SYNCWORKER_DATABASE_URL": db.connect_url, "SYNCWORKER_LOG_FORMAT": "text", "SYNCWORKER_SECRET_KEY": ""}
    return CliRunner().invoke(cli, list(args), env=env, input=input)


def _connected_tenant(db: Database) -> int:
    tenant_id = add_tenant(db, TENANT).id
    client_id = make_client(db, tenant_id, "C1", "Harbour Pty Ltd")
    with db.session() as s:
        s.add(TenantSystem(tenant_id=tenant_id, system="xpm", status="connected", credentials=b"sealed tokens",
                           credentials_version=3))
        s.add(Link(tenant_id=tenant_id, client_id=client_id, system="xpm", remote_id="R1", status="linked",
                   method="manual"))
    return tenant_id


def test_disconnect_forgets_the_tokens_keeps_the_links_and_runs_say_how_to_reconnect(db: Database) -> None:
    tenant_id = _connected_tenant(db)

    result = run(db, "disconnect", TENANT, "--system", "xpm")

    assert result.exit_code == 0, result.output
    with db.read() as s:
        row = s.scalar(sa.select(TenantSystem).where(TenantSystem.tenant_id == tenant_id))
        assert row is not None and (row.credentials, row.status) == (None, "disconnected")
        assert row.credentials_version == 4  # a refresh racing this cannot write the old grant back
        assert s.scalar(sa.select(Link.status)) == "linked"
        assert s.scalar(sa.select(AuditEntry.action).where(AuditEntry.entity == "credentials")) == "disconnect"
    refused = run(db, "link-run", "--tenant", TENANT, "--system", "xpm")
    assert refused.exit_code == 1
    assert "not connected to xpm" in refused.output and "syncworker connect xpm" in refused.output
    assert "Traceback" not in refused.output
    again = run(db, "disconnect", TENANT, "--system", "xpm")
    assert again.exit_code == 0 and "was not connected" in again.output


def test_remove_asks_refuses_a_busy_tenant_and_then_deletes_everything_but_the_audit_trail(db: Database) -> None:
    tenant_id = _connected_tenant(db)
    with db.session() as s:
        run_row = JobRun(tenant_id=tenant_id, kind="link_run", trigger="cli", status="running", started_at=utcnow())
        s.add(run_row)
        s.flush()
        run_id = run_row.id
        s.add(AuditEntry(tenant_id=tenant_id, actor="t", origin="local", target="local", entity="client",
                         entity_id="C1", action="update", after={"email": "x@example.test"}, run_id=run_id))

    declined = run(db, "tenants", "remove", TENANT, input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    busy = run(db, "tenants", "remove", TENANT, "--yes")
    assert busy.exit_code == 1 and f"runs in progress ({run_id})" in busy.output
    with db.session() as s:
        s.get(JobRun, run_id).status = "succeeded"  # type: ignore[union-attr]

    removed = run(db, "tenants", "remove", TENANT, "--yes", "--json")

    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.stdout) == {"id": tenant_id, "name": TENANT, "clients": 1, "systems": ["xpm"]}
    with db.read() as s:
        for model in (Tenant, Client, Link, TenantSystem, JobRun):
            assert s.scalar(sa.select(sa.func.count()).select_from(model)) == 0, model
        entries = s.execute(sa.select(AuditEntry.tenant_id, AuditEntry.run_id, AuditEntry.action)
                            .order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["create", "update", "remove"]  # kept, detached
    assert all(e.tenant_id is None and e.run_id is None for e in entries)
    with db.engine.connect() as conn:  # still append-only: only the detach is let through
        try:
            conn.exec_driver_sql("UPDATE audit_log SET actor = 'someone else'")
            conn.commit()
            raise AssertionError("the audit log accepted an edit")
        except sa.exc.DBAPIError:
            conn.rollback()
    missing = run(db, "tenants", "remove", TENANT, "--yes")
    assert missing.exit_code == 1 and "no tenant named" in missing.output
