"""Tenants (practices)."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, Client, JobRun, Tenant, TenantSystem

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._&'-]{0,199}$")


class TenantError(ValueError):
    pass


def add_tenant(db: Database, name: str) -> Tenant:
    name = name.strip()
    if not _NAME.match(name):
        raise TenantError(f"tenant name {name!r} is invalid: use letters, digits, spaces and . _ & ' - (max 200)")
    with db.session() as s:
        if s.scalar(select(Tenant.id).where(Tenant.name == name)) is not None:
            raise TenantError(f"tenant {name!r} already exists")
        tenant = Tenant(name=name, settings={})
        s.add(tenant)
        s.flush()
        s.add(AuditEntry(tenant_id=tenant.id, actor="operator", origin="operator", target="local", entity="tenant",
                         entity_id=str(tenant.id), action="create", after={"name": name}))
        return tenant


def get_tenant(s: Session, name: str) -> Tenant:
    tenant = s.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise TenantError(f"no tenant named {name!r} (see `syncworker tenants list`)")
    return tenant


def list_tenants(db: Database) -> list[dict[str, object]]:
    with db.session() as s:
        counts = dict(s.execute(select(Client.tenant_id, func.count()).group_by(Client.tenant_id)).all())
        systems: dict[int, list[str]] = {}
        for ts in s.scalars(select(TenantSystem)):
            systems.setdefault(ts.tenant_id, []).append(f"{ts.system} ({ts.status})")
        return [
            {"id": t.id, "name": t.name, "clients": counts.get(t.id, 0), "systems": ", ".join(systems.get(t.id, []))}
            for t in s.scalars(select(Tenant).order_by(Tenant.name))
        ]


def disconnect_system(db: Database, tenant_name: str, system: str, *, actor: str = "operator") -> bool:
    """Forget the tenant's stored tokens for `system` (the links stay, so reconnecting picks up where it
    was); runs then refuse with "not connected". False when there was nothing to forget. The version moves
    on, so a token refresh racing this cannot write the old grant back (its compare-and-swap fails)."""
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        row = s.scalar(select(TenantSystem).where(TenantSystem.tenant_id == tenant.id, TenantSystem.system == system))
        if row is None or (row.status == "disconnected" and row.credentials is None):
            return False
        row.credentials, row.status, row.paused_until = None, "disconnected", None
        row.status_reason = f"disconnected by {actor}"
        row.credentials_version += 1
        s.add(AuditEntry(tenant_id=tenant.id, actor=actor, origin="operator", target="local", entity="credentials",
                         entity_id=system, action="disconnect", after={"status": "disconnected"}))
        return True


def remove_tenant(db: Database, tenant_name: str, *, actor: str = "operator") -> dict[str, object]:
    """Remove a practice and everything stored for it (clients, contacts, links, records cache, runs,
    credentials, portal users...), refused while one of its runs is in progress. Its audit entries stay
    (the log is append-only), detached from it; one more entry records the removal."""
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        busy = s.scalars(select(JobRun.id).where(JobRun.tenant_id == tenant.id, JobRun.status == "running")).all()
        if busy:
            raise TenantInUse(f"tenant {tenant_name!r} has runs in progress ({', '.join(map(str, busy))}): wait for "
                             "them to end (or `syncworker tenants unblock` if their process died), then remove it")
        counts = {"clients": s.scalar(select(func.count()).select_from(Client).where(Client.tenant_id == tenant.id)),
                  "systems": [ts.system for ts in s.scalars(select(TenantSystem).where(
                      TenantSystem.tenant_id == tenant.id))]}
        tenant_id = tenant.id
        s.delete(tenant)
        s.flush()
        s.add(AuditEntry(tenant_id=None, actor=actor, origin="operator", target="local", entity="tenant",
                         entity_id=str(tenant_id), action="remove", before={"name": tenant_name, **counts}))
    return {"id": tenant_id, "name": tenant_name, **counts}


class TenantInUse(TenantError):
    pass
