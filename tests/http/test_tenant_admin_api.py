"""`POST /tenants/disconnect` and `POST /tenants/remove` over real sockets, audited with the operator's name."""

from __future__ import annotations

import sqlalchemy as sa

from syncworker.store.models import AuditEntry, JobRun, Link, Tenant, TenantSystem
from syncworker.store.types import utcnow
from tests.factories import make_client, make_tenant
from tests.http.conftest import Server


def test_disconnect_then_remove_over_http(server: Server, tenant_name: str) -> None:
    db = server.db
    tenant_id = make_tenant(db, tenant_name)
    client_id = make_client(db, tenant_id, "C1", "Harbour Pty Ltd")
    with db.session() as s:
        s.add(TenantSystem(tenant_id=tenant_id, system="xero", status="connected", credentials=b"sealed"))
        s.add(Link(tenant_id=tenant_id, client_id=client_id, system="xero", remote_id="R1", status="linked"))
        busy = JobRun(tenant_id=tenant_id, kind="sync", trigger="operator", status="running", started_at=utcnow())
        s.add(busy)
        s.flush()
        busy_id = busy.id

    with server.client(**{"X-Operator": "Robin Ops"}) as api:
        gone = api.post("/tenants/disconnect", json={"tenant": tenant_name, "system": "xero"})
        assert gone.status_code == 200 and gone.json()["disconnected"] is True
        with db.read() as s:
            row = s.scalar(sa.select(TenantSystem).where(TenantSystem.tenant_id == tenant_id))
            assert row is not None and (row.credentials, row.status) == (None, "disconnected")
        assert api.post("/tenants/remove", json={"tenant": tenant_name, "confirm": False}).status_code == 422
        busy_answer = api.post("/tenants/remove", json={"tenant": tenant_name, "confirm": True})
        assert busy_answer.status_code == 409 and str(busy_id) in busy_answer.json()["detail"]
        with db.session() as s:
            s.get(JobRun, busy_id).status = "failed"  # type: ignore[union-attr]
        done = api.post("/tenants/remove", json={"tenant": tenant_name, "confirm": True})
        assert done.status_code == 200, done.text
        assert api.post("/tenants/remove", json={"tenant": tenant_name, "confirm": True}).status_code == 404
    with db.read() as s:
        assert s.scalar(sa.select(Tenant).where(Tenant.name == tenant_name)) is None
        assert s.scalar(sa.select(sa.func.count()).select_from(Link).where(Link.tenant_id == tenant_id)) == 0
        actors = s.execute(sa.select(AuditEntry.action, AuditEntry.actor).where(
            AuditEntry.action.in_(("disconnect", "remove")), AuditEntry.entity_id.in_(("xero", str(tenant_id))))
        ).all()
    assert sorted(actors) == [("disconnect", "Robin Ops"), ("remove", "Robin Ops")]
