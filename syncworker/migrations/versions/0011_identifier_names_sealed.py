"""tax numbers sealed under every name `is_identifier_key` knows, not only the three 0007 and 0009 looked for

0007 and 0009 found tax numbers by the names `tax_number`, `tfn` and `TaxNumber` (`IDENTIFIER_FIELDS`, matched
case-sensitively), and the code of their time sealed and hashed only those; the code now goes by
`store.crypto.is_identifier_key` (`TFN`, `tax_file_number`, `TaxFileNumber`, `IRDNumber`..., any case, at
any depth, a number as its text). A database written before can hold such a number in plain text: in a remote
record's payload (and counted by its digits in the record's content hash), in a merge base (`field_sync_state`,
with a plain SHA-256 beside it) or in a conflict (`sync_conflicts`). This seals them as the code does now: a
payload's values (masked ones stay, as `SealedJSON` leaves them), a client record's content hash keyed again
with its copies moved along (`remote_hash_at_decision`, the `@record` mark; 0009's `move_hash`), a merge
base's value sealed with its keyed hash, a conflict's values sealed. Each table is read a page of rows at a
time by primary key, and names are matched in Python: a SQL `LIKE` is case-sensitive on PostgreSQL and knows
none of the other spellings. SYNCWORKER_SECRET_KEY is needed only when something is to be sealed: without it
the migration counts those rows and refuses, naming the fix, having written nothing. Run again, it finds
nothing to do.

The downgrade changes nothing: the code of revision 0010 opens a sealed value whatever its name (`SealedJSON`,
`SealedText`), so opening them again would only put tax numbers back in plain text.

Revision ID: 0011_identifier_names_sealed
Revises: 0010_portal_login_limits
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011_identifier_names_sealed"
down_revision = "0010_portal_login_limits"
branch_labels = None
depends_on = None

PAGE = 500  # rows read at a time: 15,000 clients' payloads, per system, never in memory at once
_records = sa.table("remote_records", sa.column("id", sa.Integer), sa.column("tenant_id", sa.Integer),
                    sa.column("system", sa.String), sa.column("record_type", sa.String),
                    sa.column("remote_id", sa.String), sa.column("payload_hash", sa.String),
                    sa.column("payload", sa.JSON().with_variant(JSONB(), "postgresql")))
_bases = sa.table("field_sync_state", sa.column("id", sa.Integer), sa.column("field", sa.String),
                  sa.column("base_value", sa.Text), sa.column("base_hash", sa.String))
_CONFLICT_VALUES = ("base_value", "local_value", "remote_value", "resolved_value")
_conflicts = sa.table("sync_conflicts", sa.column("id", sa.Integer), sa.column("field", sa.String),
                      *(sa.column(c, sa.Text) for c in _CONFLICT_VALUES))


def upgrade() -> None:
    seal(op.get_bind())


def seal(bind: Any) -> None:
    """The upgrade, on a connection (`bind`) whose engine holds the key, if any (`store.types.use_sealer`)."""
    sealer = getattr(bind.dialect, "syncworker_sealer", None)
    if sealer is None:  # count what would be sealed; refuse, having written nothing, if anything is
        count = sum(1 for _ in _plain_records(bind)) + sum(1 for _ in _plain_rows(bind, _bases, ("base_value",))) \
            + sum(1 for _ in _plain_rows(bind, _conflicts, _CONFLICT_VALUES))
        if count:
            _version("0007_sealed_sync_values")._sealer(count, "encrypt", bind)  # raises, naming the fix
        return
    _seal_records(bind, sealer)
    digest = _version("0007_sealed_sync_values")._digest
    for pk, field, value in _plain_rows(bind, _bases, ("base_value",)):
        bind.execute(sa.update(_bases).where(_bases.c.id == pk).values(
            base_value=sealer.seal(value), base_hash=digest(sealer, field, value, keyed=True)))
    for pk, _field, *values in _plain_rows(bind, _conflicts, _CONFLICT_VALUES):
        # A conflict's values are sealed whole, masked or not, as `SealedText` stores them (and 0007 did).
        bind.execute(sa.update(_conflicts).where(_conflicts.c.id == pk).values(
            {c: sealer.seal(v) if _plain(v) else v for c, v in zip(_CONFLICT_VALUES, values, strict=True)}))


def downgrade() -> None:
    """Nothing to undo (see the module's docstring): revision 0010's code reads what this sealed."""


def _seal_records(bind: Any, sealer: Any) -> None:
    from syncworker.domain.serialize import content_hash
    from syncworker.store.crypto import is_sealed, keyed_identifiers, map_identifiers

    move_hash = _version("0009_keyed_record_hashes").move_hash
    for row, payload in _plain_records(bind):
        bind.execute(sa.update(_records).where(_records.c.id == row.id).values(
            payload=map_identifiers(payload, lambda v: sealer.seal(v) if _sealable(v) else v)))
        if row.record_type == "client":  # whose content hash `snapshots.record_hash` keys (0009)
            plain = map_identifiers(payload, lambda v: sealer.open(v) if is_sealed(v) else v)
            move_hash(bind, row._mapping, content_hash(keyed_identifiers(plain, lambda: sealer)))


def _plain_records(bind: Any) -> Iterator[tuple[Any, Any]]:
    """Each remote record whose payload holds a tax number in plain text, with its payload (JSON)."""
    from syncworker.store.crypto import map_identifiers

    json_of = _version("0007_sealed_sync_values")._json
    columns = (_records.c.id, _records.c.tenant_id, _records.c.system, _records.c.record_type,
               _records.c.remote_id, _records.c.payload_hash, _records.c.payload)
    for row in _paged(bind, sa.select(*columns), _records.c.id):
        payload, found = json_of(row.payload), []
        map_identifiers(payload, lambda v, found=found: found.append(v) or v)
        if any(_sealable(v) for v in found):
            yield row, payload


def _plain_rows(bind: Any, table: sa.TableClause, columns: tuple[str, ...]) -> Iterator[Any]:
    """(id, field, *values) of each row about a private identifier's field with a value in plain text."""
    from syncworker.store.crypto import is_identifier_key

    names = sorted(f for f in bind.execute(sa.select(table.c.field).distinct()).scalars() if is_identifier_key(f))
    if not names:
        return
    query = sa.select(table.c.id, table.c.field, *(table.c[c] for c in columns)).where(table.c.field.in_(names))
    for row in _paged(bind, query, table.c.id):
        if any(_plain(v) for v in row[2:]):
            yield row


def _paged(bind: Any, query: sa.Select[Any], pk: sa.ColumnClause[Any]) -> Iterator[Any]:
    """The rows of `query` (its first column `pk`), read PAGE at a time in the order of `pk`: each page is read
    whole before its rows are handed out, so the caller may update them as it goes."""
    last = None
    while True:
        page = bind.execute((query if last is None else query.where(pk > last)).order_by(pk).limit(PAGE)).all()
        yield from page
        if len(page) < PAGE:
            return
        last = page[-1][0]


def _plain(value: str | None) -> bool:
    from syncworker.store.crypto import is_sealed

    return value is not None and not is_sealed(value)


def _sealable(value: str) -> bool:  # as `store.types.SealedJSON` seals: masked values (`******217`) stay
    from syncworker.store.crypto import identifier_norm

    return _plain(value) and identifier_norm(value) is not None


def _version(name: str) -> ModuleType:
    return importlib.import_module(f"syncworker.migrations.versions.{name}")
