"""a remote record's content hash counts its tax number by a keyed hash, never by its digits

`remote_records.payload_hash` was a SHA-256 of the whole payload: with the other fields readable beside it,
trying every nine-digit number against it gives the tax number away, sealed payload or not. It is now taken
with each tax number replaced by its HMAC (`store.crypto.keyed_identifiers`). The hashes that copy it move
with it, so no record looks changed: the merge's `@record` mark (`field_sync_state.base_hash`) and a link's
`remote_hash_at_decision` (a rejected suggestion stays rejected). Needs SYNCWORKER_SECRET_KEY when records
hold a tax number (refused, naming the fix, without one); the downgrade puts the plain hashes back.

Revision ID: 0009_keyed_record_hashes
Revises: 0008_portal_login_attempts
Create Date: 2026-12-07 11:00:00
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009_keyed_record_hashes"
down_revision = "0008_portal_login_attempts"
branch_labels = None
depends_on = None

_records = sa.table("remote_records", sa.column("id", sa.Integer), sa.column("tenant_id", sa.Integer),
                    sa.column("system", sa.String), sa.column("record_type", sa.String),
                    sa.column("remote_id", sa.String), sa.column("payload_hash", sa.String),
                    sa.column("payload", sa.JSON().with_variant(JSONB(), "postgresql")))
_links = sa.table("links", sa.column("id", sa.Integer), sa.column("tenant_id", sa.Integer),
                  sa.column("system", sa.String), sa.column("remote_id", sa.String),
                  sa.column("remote_hash_at_decision", sa.String))
_marks = sa.table("field_sync_state", sa.column("link_id", sa.Integer), sa.column("field", sa.String),
                  sa.column("base_hash", sa.String))
RECORD_MARK = "@record"


def upgrade() -> None:
    _rehash(keyed=True)


def downgrade() -> None:
    _rehash(keyed=False)


def _rehash(*, keyed: bool) -> None:
    from syncworker.domain.serialize import content_hash
    from syncworker.store.crypto import (
        IDENTIFIER_FIELDS,
        identifier_norm,
        is_sealed,
        keyed_identifiers,
        map_identifiers,
    )

    bind = op.get_bind()
    holds = sa.or_(*(sa.cast(_records.c.payload, sa.Text).contains(k) for k in sorted(IDENTIFIER_FIELDS)))
    rows = []
    for row in bind.execute(sa.select(_records).where(_records.c.record_type == "client", holds)).mappings():
        payload, found = _json(row["payload"]), []
        map_identifiers(payload, lambda v, found=found: found.append(v) or v)
        if any(is_sealed(v) or identifier_norm(v) is not None for v in found):
            rows.append((row, payload))
    if not rows:
        return
    sealer = getattr(bind.dialect, "syncworker_sealer", None)
    if sealer is None:
        from syncworker.store.crypto import SecretKeyError

        raise SecretKeyError(f"{len(rows)} remote records hold a tax number and SYNCWORKER_SECRET_KEY is not set, so "
                             "this migration cannot work out their content hashes: set the key (`syncworker keygen` "
                             "makes a new one)")
    for row, payload in rows:
        plain = map_identifiers(payload, lambda v: sealer.open(v) if is_sealed(v) else v)
        move_hash(bind, row, content_hash(keyed_identifiers(plain, lambda: sealer) if keyed else plain))


def move_hash(bind: Any, row: Any, new: str) -> None:
    """Give a remote record (`row`: its id, tenant_id, system, remote_id and payload_hash) the content hash
    `new`, and the copies of its old one too (a link's `remote_hash_at_decision`, the `@record` mark), so that
    nothing looks changed. Migration 0011 does the same for the records it seals."""
    old = row["payload_hash"]
    if new == old:
        return
    bind.execute(sa.update(_records).where(_records.c.id == row["id"]).values(payload_hash=new))
    same_record = (_links.c.tenant_id == row["tenant_id"], _links.c.system == row["system"],
                   _links.c.remote_id == row["remote_id"])
    bind.execute(sa.update(_links).where(*same_record, _links.c.remote_hash_at_decision == old)
                 .values(remote_hash_at_decision=new))
    bind.execute(sa.update(_marks).where(_marks.c.field == RECORD_MARK, _marks.c.base_hash == old,
                                         _marks.c.link_id.in_(sa.select(_links.c.id).where(*same_record)))
                 .values(base_hash=new))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
