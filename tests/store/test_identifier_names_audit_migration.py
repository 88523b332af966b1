"""Migration 0012: an audit entry an older version wrote with a whole tax number under a name `is_identifier_key`
knows but 0006 did not look for (`TFN`, `tax_file_number`, `TaxFileNumber`, `IRDNumber`, any case, nested, in
lists, sent as a number) is masked to its last digits, as the audit writer masks one today, on SQLite and
PostgreSQL, without a key; nothing else in the log changes, the append-only guard is back as it was, and run
again it changes nothing."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
import sqlalchemy as sa

from syncworker.store.crypto import mask_identifiers
from syncworker.store.db import Database
from syncworker.store.types import JSONType
from tests.store.test_identifier_names_migration import paged_selects

BEFORE = "0011_identifier_names_sealed"
MIGRATION = "syncworker.migrations.versions.0012_identifier_names_masked"
TFN = "876 543 217"  # made-up numbers, no real person's
# Each tax number below with its separators removed: none may be left whole in the log.
PLAIN = ("876543217", "111222333", "444555666", "123456789", "222333444", "987654321", "333444555",
         "555666777")
# Keys that are not a tax number's name though "tfn" or "ird number" is inside them: their values stay whole.
READABLE = {"last_fname": "Lovelace", "bird_number": "998877665"}
OLD = {  # id: (before, after), as entries written before the audit writer knew every spelling
    1: (None, {"TFN": TFN, "tfN": "111 222 333", "display_name": "Ada", **READABLE}),
    2: ({"extra": {"tax_file_number": "444555666",
                   "identifiers": [{"scheme": "NZ", "IRDNumber": "123-456-789"}, {"TaxFileNumber": 222333444}]}},
        {"changes": [{"field": "TFN", "local": "987 654 321", "remote": "******321", "resolution": "local"}]}),
    3: ({"tax_number": "******217"}, {"IrdNumber": "333 444 555", "status": "active"}),
    7: ({"TFN": ["555 666 777", "******217", None]}, None),  # a list under the key: each one masked
}
MASKED = {
    1: (None, {"TFN": "******217", "tfN": "******333", "display_name": "Ada", **READABLE}),
    2: ({"extra": {"tax_file_number": "******666",
                   "identifiers": [{"scheme": "NZ", "IRDNumber": "******789"}, {"TaxFileNumber": "******444"}]}},
        {"changes": [{"field": "TFN", "local": "******321", "remote": "******321", "resolution": "local"}]}),
    3: ({"tax_number": "******217"}, {"IrdNumber": "******555", "status": "active"}),
    7: ({"TFN": ["******777", "******217", None]}, None),
}
UNTOUCHED = {  # nothing to mask: these stay exactly as stored
    4: ({"TFN": "******217", "TaxFileNumber": "******321"}, {"TFN": "******217"}),  # masked already
    5: (READABLE, {"display_name": "Ada", "note": "bird_number and last_fname are not tax numbers"}),
    6: (None, None),
}

_audit = sa.table("audit_log", *(sa.column(c) for c in (
    "id", "tenant_id", "at", "actor", "origin", "target", "entity", "entity_id", "action", "run_id")),
    sa.column("before", JSONType), sa.column("after", JSONType))


def _entries(db: Database, entries: dict[int, tuple[Any, Any]]) -> None:
    with db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO tenants (id, name, settings, created_at, updated_at) "
                             "VALUES (1, 'T', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        for pk, (before, after) in entries.items():
            conn.execute(sa.insert(_audit).values(
                id=pk, tenant_id=1, at=sa.func.current_timestamp(), actor="import", origin="local", target="local",
                entity="client", entity_id=f"C{pk}", action="update",
                before=sa.null() if before is None else before, after=sa.null() if after is None else after))


def _rows(db: Database) -> dict[int, list[str]]:
    """Each entry as the database holds it (no column type in between), by id."""
    with db.engine.connect() as conn:
        return {row[0]: [str(v) for v in row] for row in conn.exec_driver_sql("SELECT * FROM audit_log ORDER BY id")}


def _stored(db: Database) -> dict[int, tuple[Any, Any]]:
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(_audit.c.id, _audit.c.before, _audit.c.after).order_by(_audit.c.id)).all()
    return {pk: (before, after) for pk, before, after in rows}


def _guard(db: Database) -> list[Any]:
    """The append-only guard as the database holds it: its triggers' (and PostgreSQL's function's) definitions."""
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            return [tuple(map(str, r)) for r in conn.exec_driver_sql(
                "SELECT tgname, tgenabled, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = "
                "'audit_log'::regclass AND NOT tgisinternal ORDER BY tgname")] + [conn.exec_driver_sql(
                    "SELECT pg_get_functiondef('audit_log_append_only'::regproc)").scalar()]
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log' ORDER BY name")]


def _refused(db: Database, statement: str) -> None:
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.exec_driver_sql(statement)


def test_tax_numbers_under_every_name_are_masked_and_nothing_else_changes(blank_db: Database) -> None:
    db = blank_db  # no key: masking needs none
    db.upgrade(BEFORE)
    _entries(db, OLD | UNTOUCHED)
    rows, guard = _rows(db), _guard(db)
    assert guard and all(d in json.dumps(rows).replace(" ", "").replace("-", "") for d in PLAIN)

    db.upgrade()

    assert db.current_revision() == db.head_revision()
    now = _rows(db)
    flat = json.dumps(now).replace(" ", "").replace("-", "")
    assert not [d for d in PLAIN if d in flat], now
    assert _stored(db) == MASKED | UNTOUCHED
    assert {pk: now[pk] for pk in UNTOUCHED} == {pk: rows[pk] for pk in UNTOUCHED}  # not even rewritten
    with db.engine.connect() as conn:  # the other columns of every entry are as they were
        columns = list(conn.exec_driver_sql("SELECT * FROM audit_log").keys())
    kept = [i for i, c in enumerate(columns) if c not in ("before", "after")]
    assert {pk: [r[i] for i in kept] for pk, r in now.items()} == {pk: [r[i] for i in kept] for pk, r in rows.items()}

    # The guard is back exactly as it was, and refuses a change or a removal again.
    assert _guard(db) == guard
    _refused(db, "UPDATE audit_log SET actor = 'someone' WHERE id = 1")
    _refused(db, "DELETE FROM audit_log WHERE id = 4")
    _refused(db, "UPDATE audit_log SET after = NULL WHERE id = 2")

    masked = _rows(db)
    db.downgrade(BEFORE)  # unmasks nothing (see the migration's docstring)
    assert _rows(db) == masked and _guard(db) == guard
    db.upgrade()  # again: nothing left to do
    assert _rows(db) == masked and _guard(db) == guard


def test_it_reads_the_log_a_page_at_a_time_and_masks_every_page(blank_db: Database,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit log is never read at once: each query takes at most PAGE entries, by id, and the entries of
    every page are masked (here 2 a page, 5 entries)."""
    db = blank_db
    db.upgrade(BEFORE)
    migration = importlib.import_module(MIGRATION)
    monkeypatch.setattr(migration, "PAGE", 2)
    _entries(db, {i: (None, {"Tfn": f"{i}00 000 00{i}", "i": i}) for i in range(1, 6)})
    guard = _guard(db)
    pages = paged_selects(db, migration.mask)

    # 2 entries a page: three pages (the last one short), each after the last id.
    assert [p.split("FROM ")[1].split()[0] for p in pages] == ["audit_log"] * 3
    assert sum(" > " in p for p in pages) == 2
    assert _stored(db) == {i: (None, {"Tfn": f"******00{i}", "i": i}) for i in range(1, 6)}
    assert _guard(db) == guard
    masked = _rows(db)
    db.upgrade()  # the migration itself: nothing left
    assert _rows(db) == masked


def test_the_audit_writer_masks_each_tax_number_in_a_list_under_the_key() -> None:
    """What 0012 masks is what `MaskedJSON` writes today: a list under an identifier's key included."""
    assert mask_identifiers({"TFN": [TFN, 987654321, {"IRDNumber": "123-456-789", "note": "x"}], "n": [TFN]}) \
        == {"TFN": ["******217", "******321", {"IRDNumber": "******789", "note": "x"}], "n": [TFN]}
