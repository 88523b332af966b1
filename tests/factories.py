"""Small builders for test data (fake people and firms only)."""

from __future__ import annotations

from typing import Any

from syncworker.store.db import Database
from syncworker.store.models import Client, Tenant


def make_tenant(db: Database, name: str = "Test Practice") -> int:
    with db.session() as s:
        t = Tenant(name=name, settings={})
        s.add(t)
        s.flush()
        return t.id


def make_client(db: Database, tenant_id: int, external_id: str, name: str, kind: str = "company", **cols: Any) -> int:
    with db.session() as s:
        c = Client(tenant_id=tenant_id, external_id=external_id, display_name=name, kind=kind, other_emails=[], **cols)
        s.add(c)
        s.flush()
        return c.id
