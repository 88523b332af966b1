"""`TokenStore` on the database: one encrypted token set per tenant and system, replaced only by
compare-and-swap on `credentials_version`, so two workers refreshing at once never both win."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from adapters.base import TokenSet
from syncworker.store.crypto import Cipher
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, TenantSystem


class DbTokenStore:
    def __init__(self, db: Database, cipher: Cipher, tenant_id: int, system: str) -> None:
        self.db, self.cipher, self.tenant_id, self.system = db, cipher, tenant_id, system

    def load(self) -> TokenSet | None:
        with self.db.session() as s:
            row = s.scalar(self._row_query())
            if row is None or row.credentials is None:
                return None
            data = json.loads(self.cipher.decrypt(row.credentials))
            return _token_from_json(data, version=row.credentials_version, remote_tenant_id=row.remote_tenant_id)

    def current_version(self) -> int:
        """The stored version, without decrypting: reconnecting must work even if the old key is lost."""
        with self.db.session() as s:
            row = s.scalar(self._row_query())
            return row.credentials_version if row is not None else 0

    def compare_and_swap(self, expected_version: int, new: TokenSet) -> bool:
        ciphertext = self.cipher.encrypt(json.dumps(_token_to_json(new)).encode())
        with self.db.session() as s:
            row = s.scalar(self._row_query())
            if row is None:
                if expected_version != 0:
                    return False
                s.add(TenantSystem(
                    tenant_id=self.tenant_id, system=self.system, status="connected",
                    remote_tenant_id=new.remote_tenant_id, credentials=ciphertext, credentials_version=1,
                ))
                s.add(_audit(self.tenant_id, self.system, "connect"))
                try:
                    s.flush()
                except Exception:  # another worker inserted first
                    s.rollback()
                    return False
                new.version = 1
                return True
            # A conditional UPDATE is atomic on both databases: only one of two racing writers matches.
            result = s.execute(
                update(TenantSystem)
                .where(TenantSystem.id == row.id, TenantSystem.credentials_version == expected_version)
                .values(
                    credentials=ciphertext, credentials_version=expected_version + 1, status="connected",
                    status_reason=None, remote_tenant_id=new.remote_tenant_id or row.remote_tenant_id,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                return False
        new.version = expected_version + 1
        return True

    @contextmanager
    def refresh_lock(self) -> Iterator[None]:
        """Only one worker anywhere calls the token endpoint for this tenant at a time. On PostgreSQL a
        session advisory lock on its own connection (it locks no rows, so the CAS update is not blocked);
        SQLite serves one machine, where the token manager's process lock and CAS suffice."""
        if self.db.dialect != "postgresql":
            yield
            return
        key = zlib.crc32(f"token:{self.system}".encode()) & 0x7FFFFFFF
        with self.db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_advisory_lock(%s, %s)", (self.tenant_id, key))
            try:
                yield
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%s, %s)", (self.tenant_id, key))
                conn.commit()

    def mark_reconnect_required(self, reason: str) -> None:
        with self.db.session() as s:
            s.execute(
                update(TenantSystem)
                .where(TenantSystem.tenant_id == self.tenant_id, TenantSystem.system == self.system)
                .values(status="reconnect_required", status_reason=reason)
            )
            s.add(_audit(self.tenant_id, self.system, "reconnect_required"))

    def _row_query(self) -> Any:
        return select(TenantSystem).where(
            TenantSystem.tenant_id == self.tenant_id, TenantSystem.system == self.system
        )


def _audit(tenant_id: int, system: str, action: str) -> AuditEntry:
    # Never the token itself: only that the credentials changed.
    return AuditEntry(
        tenant_id=tenant_id, actor="auth", origin=system, target="local", entity="credentials",
        entity_id=system, action=action, before=None, after=None,
    )


def _token_to_json(t: TokenSet) -> dict[str, Any]:
    return {
        "access_token": t.access_token,
        "refresh_token": t.refresh_token,
        "expires_at": t.expires_at.isoformat() if t.expires_at else None,
        "scope": list(t.scope),
        "previous_refresh_token": t.previous_refresh_token,
        "rotated_at": t.rotated_at.isoformat() if t.rotated_at else None,
    }


def _token_from_json(d: dict[str, Any], *, version: int, remote_tenant_id: str | None) -> TokenSet:
    def dt(v: str | None) -> datetime | None:
        return datetime.fromisoformat(v) if v else None

    return TokenSet(
        access_token=d.get("access_token"), refresh_token=d["refresh_token"], expires_at=dt(d.get("expires_at")),
        scope=list(d.get("scope") or []), remote_tenant_id=remote_tenant_id, version=version,
        previous_refresh_token=d.get("previous_refresh_token"), rotated_at=dt(d.get("rotated_at")),
    )
