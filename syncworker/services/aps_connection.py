"""A tenant's connection to APS: the practice database's URL (it may carry a password), the mapping it is read
with, and which fields the tenant allows syncworker to write (none by default: APS is the practice's system
of record). Stored like every other credential: Fernet-encrypted in `tenant_systems.credentials`.

Connecting checks the mapping against the live database first (through `ctx.open_aps`, the composition root's
APS adapter), so a table or column the database lacks stops `connect aps` with an error naming it and nothing is
stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from adapters.errors import NotConnected
from syncworker.config import redact_url
from syncworker.services.context import ServiceContext
from syncworker.services.tenants import get_tenant
from syncworker.store.crypto import Cipher
from syncworker.store.models import AuditEntry, TenantSystem

SYSTEM = "aps"


@dataclass
class ApsConnection:
    database_url: str
    mapping_text: str | None = None  # None: config/aps.yaml as it is when each run starts
    mapping_source: str | None = None
    writable_fields: list[str] = field(default_factory=list)


def connect_aps(ctx: ServiceContext, tenant_name: str, database_url: str, *, mapping_path: str | None = None,
                allow_writes: list[str] | None = None) -> dict[str, Any]:
    """Validate the mapping against the database, then store the connection (replacing an earlier one)."""
    cipher = Cipher(ctx.settings.secret_key)  # no key, no connection: refuse before touching the practice's database
    with ctx.db.session() as s:
        tenant_id = get_tenant(s, tenant_name).id
    text = Path(mapping_path).read_text(encoding="utf-8") if mapping_path else None
    conn = ApsConnection(database_url, text, str(Path(mapping_path).resolve()) if mapping_path else None,
                         sorted(set(allow_writes or ())))
    adapter = ctx.open_aps(conn)  # raises MappingError naming the missing table or column
    try:
        pages = adapter.iter_client_pages()
        first = next(iter(pages), None)
    finally:
        adapter.close()
    payload = cipher.encrypt(json.dumps({
        "database_url": conn.database_url, "mapping_text": conn.mapping_text, "mapping_source": conn.mapping_source,
        "writable_fields": conn.writable_fields,
    }).encode())
    with ctx.db.session() as s:
        row = s.scalar(select(TenantSystem).where(TenantSystem.tenant_id == tenant_id, TenantSystem.system == SYSTEM))
        if row is None:
            row = TenantSystem(tenant_id=tenant_id, system=SYSTEM, credentials_version=0)
            s.add(row)
        row.credentials, row.status, row.status_reason = payload, "connected", None
        row.credentials_version = (row.credentials_version or 0) + 1
        row.remote_tenant_id = redact_url(database_url)[:100]
        s.add(AuditEntry(tenant_id=tenant_id, actor="operator", origin="operator", target="local", entity="credentials",
                         entity_id=SYSTEM, action="connect", before=None,
                         after={"database": redact_url(database_url), "mapping": conn.mapping_source or "config/aps.yaml",
                                "writable_fields": conn.writable_fields}))
    return {"system": SYSTEM, "database": redact_url(database_url), "mapping": conn.mapping_source or "config/aps.yaml",
            "writes": conn.writable_fields or "off", "first_page_clients": len(first.items) if first else 0}


def load_connection(ctx: ServiceContext, tenant_id: int) -> ApsConnection:
    with ctx.db.session() as s:
        row = s.scalar(select(TenantSystem).where(TenantSystem.tenant_id == tenant_id, TenantSystem.system == SYSTEM))
        blob = row.credentials if row is not None else None
    if blob is None:
        raise NotConnected("tenant is not connected to aps: run `syncworker connect aps` first")
    data = json.loads(Cipher(ctx.settings.secret_key).decrypt(blob))
    return ApsConnection(data["database_url"], data.get("mapping_text"), data.get("mapping_source"),
                         list(data.get("writable_fields") or []))


__all__ = ["ApsConnection", "connect_aps", "load_connection"]
