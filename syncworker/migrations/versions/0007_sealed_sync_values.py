"""tax file numbers sealed where the sync keeps them too: remote records' payloads, merge bases and conflicts

0006 sealed `clients.tax_number`; the sync still held the numbers in plain text. Now a remote record's
payload holds its tax number encrypted (`store.types.SealedJSON`), and a `tax_number` merge base
(`field_sync_state`) or conflict (`sync_conflicts`) holds its values encrypted (`SealedText`), the base's
hash being a keyed hash (a plain SHA-256 of nine digits is soon reversed). No schema change: existing values
are converted with SYNCWORKER_SECRET_KEY, and the migration refuses, naming the fix, when some are stored and
no key is set. The downgrade opens them again (with the same key) and puts the plain hashes back.

Revision ID: 0007_sealed_sync_values
Revises: 0006_sealed_tax_numbers
Create Date: 2026-12-07 11:00:00
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007_sealed_sync_values"
down_revision = "0006_sealed_tax_numbers"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_records = sa.table("remote_records", sa.column("id", sa.Integer), sa.column("payload", _JSON))
_bases = sa.table("field_sync_state", sa.column("id", sa.Integer), sa.column("field", sa.String),
                  sa.column("base_value", sa.Text), sa.column("base_hash", sa.String))
_CONFLICT_VALUES = ("base_value", "local_value", "remote_value", "resolved_value")
_conflicts = sa.table("sync_conflicts", sa.column("id", sa.Integer), sa.column("field", sa.String),
                      *(sa.column(c, sa.Text) for c in _CONFLICT_VALUES))


def upgrade() -> None:
    _convert(sealing=True)


def downgrade() -> None:
    _convert(sealing=False)


def _convert(*, sealing: bool) -> None:
    """Seal (or open) every tax number the three tables hold: work out all the changes first, so that with
    no key the migration refuses before it writes anything."""
    from syncworker.store.crypto import (
        IDENTIFIER_FIELDS,
        SEALED_PREFIX,
        identifier_norm,
        is_identifier_key,
        is_sealed,
        map_identifiers,
    )

    def pending(value: str | None) -> bool:  # a base or conflict value this direction has to change
        return value is not None and is_sealed(value) != sealing

    def pending_in(payload: Any) -> bool:  # a payload holding a tax number this direction has to change
        found: list[str] = []
        map_identifiers(payload, lambda v: found.append(v) or v)
        return any(pending(v) and (not sealing or identifier_norm(v) is not None) for v in found)

    bind = op.get_bind()
    # Sealing finds the names this revision's code sealed. Opening finds every sealed value whatever its name
    # (0011 and the code after it seal `TFN`, `IRDNumber`... too), so that revision 0006's code, which opens
    # none, is left with none.
    holds = sa.or_(*(sa.cast(_records.c.payload, sa.Text).contains(k) for k in sorted(IDENTIFIER_FIELDS))) \
        if sealing else sa.cast(_records.c.payload, sa.Text).contains(SEALED_PREFIX)
    records = [(pk, p) for pk, p in ((pk, _json(p)) for pk, p in bind.execute(
        sa.select(_records.c.id, _records.c.payload).where(holds))) if pending_in(p)]
    fields = sorted(IDENTIFIER_FIELDS) if sealing else sorted(
        f for f in bind.scalars(sa.union(sa.select(_bases.c.field), sa.select(_conflicts.c.field)))
        if is_identifier_key(f))
    bases = [(pk, f, v) for pk, f, v in bind.execute(
        sa.select(_bases.c.id, _bases.c.field, _bases.c.base_value).where(_bases.c.field.in_(fields))) if pending(v)]
    conflicts = [(pk, values) for pk, *values in bind.execute(
        sa.select(_conflicts.c.id, *(_conflicts.c[c] for c in _CONFLICT_VALUES))
        .where(_conflicts.c.field.in_(fields))) if any(pending(v) for v in values)]
    if not (records or bases or conflicts):
        return
    sealer = _sealer(len(records) + len(bases) + len(conflicts), "encrypt" if sealing else "decrypt")
    # Sealing: a base or conflict value of a tax number is sealed whole, masked or not (as `SealedText`).
    change: Callable[[str], str] = (lambda v: sealer.seal(v) if pending(v) else v) if sealing else \
        (lambda v: sealer.open(v) if pending(v) else v)
    in_payload: Callable[[str], str] = change if not sealing else \
        (lambda v: change(v) if identifier_norm(v) is not None else v)  # as `SealedJSON`: masked ones stay
    for pk, payload in records:
        bind.execute(sa.update(_records).where(_records.c.id == pk)
                     .values(payload=map_identifiers(payload, in_payload)))
    for pk, f, value in bases:
        plain = value if sealing else sealer.open(value)
        bind.execute(sa.update(_bases).where(_bases.c.id == pk)
                     .values(base_value=change(value), base_hash=_digest(sealer, f, plain, keyed=sealing)))
    for pk, values in conflicts:
        bind.execute(sa.update(_conflicts).where(_conflicts.c.id == pk).values(
            {c: v if v is None else change(v) for c, v in zip(_CONFLICT_VALUES, values, strict=True)}))


def _digest(sealer: Any, field: str, base_value: str, *, keyed: bool) -> str:
    """A tax number base's hash as `services.sync_store.field_digest` makes it (keyed) or as it was (plain)."""
    from syncworker.domain.sync import decode, normalise, value_hash

    value = decode(base_value)
    norm = normalise(field, value)
    if keyed and norm is not None and "*" not in norm:
        return sealer.index(norm) or value_hash(field, value)
    return value_hash(field, value)


def _sealer(count: int, doing: str, bind: Any = None) -> Any:
    """The key's sealer (on `bind`, or on the migration's connection); SecretKeyError naming the fix without it."""
    sealer = getattr((bind if bind is not None else op.get_bind()).dialect, "syncworker_sealer", None)
    if sealer is None:
        from syncworker.store.crypto import SecretKeyError

        raise SecretKeyError(f"{count} remote records, merge bases or conflicts hold a tax number and "
                             f"SYNCWORKER_SECRET_KEY is not set, so this migration cannot {doing} them: set the key "
                             "(`syncworker keygen` makes a new one)")
    return sealer


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
