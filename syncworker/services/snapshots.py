"""The records cache: the last pulled state of each remote record, upserted by remote id so replaying a
page changes nothing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from syncworker.domain.profile import ClientProfile
from syncworker.domain.serialize import content_hash, profile_from_dict, profile_to_dict
from syncworker.store.crypto import keyed_identifiers
from syncworker.store.models import RemoteRecord
from syncworker.store.types import sealer_for, utcnow


def record_hash(s: Session, payload: dict[str, Any]) -> str:
    """A remote client's `payload_hash` (and the merge's `@record` mark): `content_hash` with its tax number
    counted by its keyed hash, never by its digits (see `store.crypto.keyed_identifiers`)."""
    dialect = s.get_bind().dialect
    return content_hash(keyed_identifiers(payload, lambda: sealer_for(dialect, "stored")))


def upsert_clients(s: Session, tenant_id: int, system: str, profiles: Iterable[ClientProfile],
                   seen_at: datetime | None = None) -> dict[str, int]:
    """Store a page of remote clients. Returns counts of new, changed and unchanged records."""
    seen_at = seen_at or utcnow()
    profiles = list(profiles)
    existing = {r.remote_id: r for r in s.scalars(select(RemoteRecord).where(
        RemoteRecord.tenant_id == tenant_id, RemoteRecord.system == system, RemoteRecord.record_type == "client",
        RemoteRecord.remote_id.in_([p.id for p in profiles])))}
    counts = {"new": 0, "changed": 0, "unchanged": 0}
    for p in profiles:
        payload = profile_to_dict(p)
        digest = record_hash(s, payload)
        row = existing.get(p.id)
        if row is None:
            s.add(RemoteRecord(tenant_id=tenant_id, system=system, record_type="client", remote_id=p.id,
                               payload=payload, payload_hash=digest, remote_status=p.status.value,
                               remote_modified_at=p.modified_at, first_seen_at=seen_at, last_seen_at=seen_at,
                               changed_at=seen_at))
            counts["new"] += 1
            continue
        row.last_seen_at = seen_at
        if row.payload_hash == digest:
            # Same content; the system-specific part (`extra`: relationships, groups) may still have moved.
            if row.payload != payload:
                row.payload = payload
            if row.remote_status != p.status.value:  # e.g. seen again after a listing missed it
                row.remote_status = p.status.value
            counts["unchanged"] += 1
            continue
        row.payload, row.payload_hash, row.remote_status = payload, digest, p.status.value
        row.remote_modified_at, row.changed_at = p.modified_at, seen_at
        counts["changed"] += 1
    s.flush()
    return counts


def load_clients(s: Session, tenant_id: int, system: str) -> list[tuple[RemoteRecord, ClientProfile]]:
    rows = s.scalars(select(RemoteRecord).where(
        RemoteRecord.tenant_id == tenant_id, RemoteRecord.system == system, RemoteRecord.record_type == "client"))
    return [(r, profile_from_dict(r.payload)) for r in rows]
