"""audit entries mask tax numbers under every name `is_identifier_key` knows, not only `tax_number`

0006 masked the audit entries that held a tax number, but found them by the text `tax_number` (a `LIKE`,
case-sensitive on PostgreSQL), and the code of its time masked only `tax_number`, `tfn` and `TaxNumber`;
entries written before the audit writer went by `store.crypto.is_identifier_key` (`TFN`, `tax_file_number`,
`TaxFileNumber`, `IRDNumber`..., any case, at any depth) can hold a whole tax number. This masks each entry's
`before` and `after` as `MaskedJSON` masks them on the way in today (`crypto.mask_identifiers`, to
`******789`): the table is read a page of rows at a time by primary key and names are matched in Python.
Masking needs no key, so it never refuses. Only an entry with something to mask is written, and only its
`before`/`after`; the append-only guard (the database triggers on `audit_log`) is lifted for those writes
and put back as it was: on SQLite the triggers are re-created from their own text in `sqlite_master`, on
PostgreSQL they are disabled and enabled again (the function is not touched). Run again, it finds nothing
to do.

The downgrade changes nothing: masking cannot be undone, the digits are gone.

Revision ID: 0012_identifier_names_masked
Revises: 0011_identifier_names_sealed
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012_identifier_names_masked"
down_revision = "0011_identifier_names_sealed"
branch_labels = None
depends_on = None

PAGE = 500  # entries read at a time: the audit log is never in memory at once
_audit = sa.table("audit_log", sa.column("id", sa.Integer),
                  sa.column("before", sa.JSON().with_variant(JSONB(), "postgresql")),
                  sa.column("after", sa.JSON().with_variant(JSONB(), "postgresql")))


def upgrade() -> None:
    mask(op.get_bind())


def mask(bind: Any) -> None:
    """The upgrade, on a connection (`bind`)."""
    from syncworker.store.crypto import mask_identifiers

    lifted: list[Any] | None = None
    for pk, before, after in _paged(bind):
        changed = {column: masked for column, value in (("before", before), ("after", after))
                   if (masked := mask_identifiers(value)) != value}
        if not changed:
            continue
        if lifted is None:
            lifted = _lift_guard(bind)
        bind.execute(sa.update(_audit).where(_audit.c.id == pk).values(changed))
    if lifted is not None:
        _restore_guard(bind, lifted)


def downgrade() -> None:
    """Nothing to undo (see the module's docstring): a masked number cannot be unmasked."""


def _paged(bind: Any) -> Iterator[Any]:
    """(id, before, after) of every entry, PAGE at a time in the order of id; each page is read whole before
    its rows are handed out, so the caller may update them as it goes."""
    query, last = sa.select(_audit.c.id, _audit.c.before, _audit.c.after).order_by(_audit.c.id).limit(PAGE), None
    while True:
        page = bind.execute(query if last is None else query.where(_audit.c.id > last)).all()
        yield from page
        if len(page) < PAGE:
            return
        last = page[-1][0]


def _lift_guard(bind: Any) -> list[Any]:
    """Lift the append-only guard; what `_restore_guard` needs to put it back exactly as it was."""
    if bind.dialect.name == "postgresql":
        names = list(bind.execute(sa.text(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass AND NOT tgisinternal "
            "AND tgenabled <> 'D' ORDER BY tgname")).scalars())
        for name in names:
            bind.execute(sa.text(f'ALTER TABLE audit_log DISABLE TRIGGER "{name}"'))
        return names
    triggers = bind.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                    "AND tbl_name = 'audit_log' ORDER BY name")).all()
    for name, _sql in triggers:
        bind.execute(sa.text(f'DROP TRIGGER "{name}"'))
    return triggers


def _restore_guard(bind: Any, lifted: list[Any]) -> None:
    if bind.dialect.name == "postgresql":
        for name in lifted:
            bind.execute(sa.text(f'ALTER TABLE audit_log ENABLE TRIGGER "{name}"'))
        return
    for _name, sql in lifted:
        bind.exec_driver_sql(sql)
