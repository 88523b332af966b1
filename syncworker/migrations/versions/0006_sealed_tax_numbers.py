"""tax file numbers encrypted at rest, with a keyed hash beside them; the audit log keeps only their last digits

Existing plain values are encrypted with SYNCWORKER_SECRET_KEY (the migration refuses, naming the fix, when
clients hold tax numbers and no key is set). Audit entries that hold a tax number are rewritten masked
(`******789`): the append-only guard is lifted for that one statement and put back. The guard then lets one
change through: an entry detached from a removed tenant or run (`tenants remove`: its `tenant_id` and
`run_id` become NULL, nothing else changes); the entry itself stays. The downgrade decrypts the values
again (it needs the same key) and puts the strict guard back; the masked audit entries stay masked.

Revision ID: 0006_sealed_tax_numbers
Revises: 0005_run_statuses
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006_sealed_tax_numbers"
down_revision = "0005_run_statuses"
branch_labels = None
depends_on = None

_clients = sa.table("clients", sa.column("id", sa.Integer), sa.column("tax_number", sa.Text),
                    sa.column("tax_number_hash", sa.String))
_audit = sa.table("audit_log", sa.column("id", sa.Integer), sa.column("before", sa.JSON),
                  sa.column("after", sa.JSON))


def _sealer(count: int, doing: str) -> Any:
    sealer = getattr(op.get_bind().dialect, "syncworker_sealer", None)
    if sealer is None:
        from syncworker.store.crypto import SecretKeyError

        raise SecretKeyError(f"{count} clients hold a tax number and SYNCWORKER_SECRET_KEY is not set, so this "
                             f"migration cannot {doing} them: set the key (`syncworker keygen` makes a new one)")
    return sealer


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch_op:
        batch_op.alter_column("tax_number", type_=sa.Text(), existing_type=sa.String(30), existing_nullable=True)
        batch_op.add_column(sa.Column("tax_number_hash", sa.String(64), nullable=True))
        batch_op.create_index("ix_clients_tenant_tax_number_hash", ["tenant_id", "tax_number_hash"])
    bind = op.get_bind()
    rows = bind.execute(sa.select(_clients.c.id, _clients.c.tax_number).where(
        _clients.c.tax_number.is_not(None), _clients.c.tax_number != "",
        sa.not_(_clients.c.tax_number.startswith("sealed:")))).all()
    if rows:
        sealer = _sealer(len(rows), "encrypt")
        for pk, value in rows:
            bind.execute(sa.update(_clients).where(_clients.c.id == pk)
                         .values(tax_number=sealer.seal(value), tax_number_hash=sealer.index(value)))
    _mask_audit_log()
    _guard_audit_log(detach=True)


# An UPDATE may only set tenant_id and/or run_id to NULL (ON DELETE SET NULL of a removed tenant or run).
_PG_GUARD = """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - 'tenant_id' - 'run_id') = (to_jsonb(OLD) - 'tenant_id' - 'run_id')
     AND (NEW.tenant_id IS NULL OR NEW.tenant_id = OLD.tenant_id)
     AND (NEW.run_id IS NULL OR NEW.run_id = OLD.run_id) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only';
END $$"""
_SQLITE_GUARD = """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN NOT (NEW.id IS OLD.id AND NEW.at IS OLD.at AND NEW.actor IS OLD.actor AND NEW.origin IS OLD.origin
  AND NEW.target IS OLD.target AND NEW.entity IS OLD.entity AND NEW.entity_id IS OLD.entity_id
  AND NEW.action IS OLD.action AND NEW.before IS OLD.before AND NEW.after IS OLD.after
  AND (NEW.tenant_id IS NULL OR NEW.tenant_id IS OLD.tenant_id) AND (NEW.run_id IS NULL OR NEW.run_id IS OLD.run_id))
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"""


def _guard_audit_log(*, detach: bool) -> None:
    initial = importlib.import_module("syncworker.migrations.versions.0001_initial_schema")
    initial._drop_audit_log_guards()
    initial._create_audit_log_guards()
    if not detach:
        return
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_GUARD)
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute(_SQLITE_GUARD)


def _mask_audit_log() -> None:
    from syncworker.store.crypto import mask_identifiers

    bind = op.get_bind()
    holds = sa.or_(sa.cast(_audit.c.before, sa.Text).contains("tax_number"),
                   sa.cast(_audit.c.after, sa.Text).contains("tax_number"))
    changed = []
    for pk, before, after in bind.execute(sa.select(_audit.c.id, _audit.c.before, _audit.c.after).where(holds)):
        before, after = _json(before), _json(after)
        masked = (mask_identifiers(before), mask_identifiers(after))
        if masked != (before, after):
            changed.append((pk, *masked))
    if not changed:
        return
    initial = importlib.import_module("syncworker.migrations.versions.0001_initial_schema")
    initial._drop_audit_log_guards()
    for pk, before, after in changed:
        bind.execute(sa.update(_audit).where(_audit.c.id == pk).values(before=before, after=after))
    initial._create_audit_log_guards()


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def downgrade() -> None:
    _guard_audit_log(detach=False)
    bind = op.get_bind()
    rows = bind.execute(sa.select(_clients.c.id, _clients.c.tax_number).where(
        _clients.c.tax_number.startswith("sealed:"))).all()
    if rows:
        sealer = _sealer(len(rows), "decrypt")
        for pk, value in rows:
            bind.execute(sa.update(_clients).where(_clients.c.id == pk).values(tax_number=sealer.open(value)))
    with op.batch_alter_table("clients") as batch_op:
        batch_op.drop_index("ix_clients_tenant_tax_number_hash")
        batch_op.drop_column("tax_number_hash")
        batch_op.alter_column("tax_number", type_=sa.String(30), existing_type=sa.Text(), existing_nullable=True)
