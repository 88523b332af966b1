"""Tenants (practices)."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, Client, Tenant, TenantSystem

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
