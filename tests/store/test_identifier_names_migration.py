"""Migration 0011: a tax number an older version stored in plain text under a name `is_identifier_key` knows
but 0007 and 0009 did not look for (`TFN`, `tax_file_number`, `TaxFileNumber`, `IRDNumber`, any case, nested,
sent as a number) is sealed in remote records' payloads, merge bases and conflicts, and its hashes keyed, on
SQLite and PostgreSQL; without a key it refuses, having written nothing; run again it changes nothing."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
import sqlalchemy as sa

from syncworker.domain.serialize import content_hash
from syncworker.domain.sync import value_hash
from syncworker.services.conflicts import list_conflicts
from syncworker.services.snapshots import record_hash
from syncworker.services.sync_store import field_digest
from syncworker.store.crypto import FieldSealer, SecretKeyError, generate_key, map_identifiers
from syncworker.store.db import Database
from syncworker.store.models import FieldSyncState, Link, RemoteRecord, SyncConflict
from syncworker.store.types import JSONType
from tests.store.test_sealed_sync_values import SYNC_TABLES, _raw

BEFORE = "0010_portal_login_limits"
TFN = "876 543 217"  # made-up numbers, no real person's
# Each tax number below, as `_raw` shows it (spaces removed): none may be left in plain text.
PLAIN = ("876543217", "444555666", "987654321", "123-456-789", "222333444", "111222333", "333444555")
# Keys that are not a tax number's name though "tfn" or "ird number" is inside them: their values stay readable.
READABLE = {"last_fname": "Lovelace", "bird_number": "998877665"}
# A record's content hash leaves `extra` out: a number sent as a JSON number under `tax_number`, which the
# old code neither sealed nor keyed, is what put digits in one.
ADA = {"id": "R1", "kind": "individual", "name": "Ada", "status": "active", "tax_number": 987654321,
       "email": "ada@example.test",
       "extra": {"TFN": TFN, "tax_file_number": "444555666", "TaxFileNumber": "******321", **READABLE,
                 "masked": {"TFN": "******217"},  # as XPM sends one: stays as it is
                 "identifiers": [{"scheme": "NZ", "IRDNumber": "123-456-789"}, {"tAx_FiLe_NuMbEr": "222 333 444"}]}}
BO = {"id": "R2", "name": "Bo", "tfN": "111 222 333"}  # no `tax_number`: 0009's case-sensitive filter missed it
RELATIONSHIP = {"id": "REL1", "from": "R1", "to": "R2", "extra": {"IrdNumber": "333 444 555"}}

_remote = sa.table("remote_records", *(sa.column(c) for c in (
    "id", "tenant_id", "system", "record_type", "remote_id", "payload_hash", "remote_status", "first_seen_at",
    "last_seen_at", "changed_at")), sa.column("payload", JSONType))


def _old_rows(db: Database, sealed_with: str) -> None:
    """What a version before `is_identifier_key` left: tax numbers under other names in plain text, content
    hashes counting their digits, plain merge-base hashes; and one record it sealed (with `sealed_with`)."""
    sealer = FieldSealer(sealed_with)
    sealed = {"id": "R4", "name": "Cy", "tax_number": sealer.seal("555 666 777")}
    now = sa.func.current_timestamp()
    with db.engine.begin() as conn:
        run = conn.exec_driver_sql
        run("INSERT INTO tenants (id, name, settings, created_at, updated_at) "
            "VALUES (1, 'T', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        for pk, name in ((1, "Ada"), (2, "Bo")):
            run("INSERT INTO clients (id, tenant_id, external_id, kind, display_name, other_emails, status, "
                f"version, created_at, updated_at) VALUES ({pk}, 1, 'C{pk}', 'individual', '{name}', '[]', 'active', "
                "1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        for pk, kind, payload in ((1, "client", ADA), (2, "client", BO), (3, "relationship", RELATIONSHIP),
                                  (4, "client", sealed)):
            conn.execute(sa.insert(_remote).values(
                id=pk, tenant_id=1, system="xero", record_type=kind, remote_id=payload["id"], payload=payload,
                payload_hash=content_hash(payload), remote_status="active", first_seen_at=now, last_seen_at=now,
                changed_at=now))
        for pk, client, remote, status in ((1, 1, ADA, "linked"), (2, 2, BO, "rejected")):
            run("INSERT INTO links (id, tenant_id, system, client_id, remote_id, status, method, reasons, "
                f"remote_hash_at_decision, created_at, updated_at) VALUES ({pk}, 1, 'xero', {client}, "
                f"'{remote['id']}', '{status}', 'manual', '[]', '{content_hash(remote)}', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)")
        bases = [("@record", None, content_hash(ADA)), ("TFN", TFN, value_hash("TFN", TFN)),
                 ("IRDNumber", "******789", value_hash("IRDNumber", "******789")),
                 ("email", "ada@example.test", value_hash("email", "ada@example.test"))]
        for field, value, digest in bases:
            run("INSERT INTO field_sync_state (link_id, field, base_value, base_hash, source, synced_at) VALUES "
                f"(1, '{field}', {'NULL' if value is None else repr(json.dumps(value))}, '{digest}', 'both', "
                "CURRENT_TIMESTAMP)")
        for field, values in (("TaxFileNumber", (TFN, "111 222 333", "******217")),
                              ("email", ("a@example.test", "b@example.test", "c@example.test"))):
            run("INSERT INTO sync_conflicts (tenant_id, link_id, field, base_value, local_value, remote_value, "
                f"status, created_at) VALUES (1, 1, '{field}', {', '.join(repr(json.dumps(v)) for v in values)}, "
                "'open', CURRENT_TIMESTAMP)")


def paged_selects(db: Database, step: Any) -> list[str]:  # noqa: ANN401 - a migration's step on a connection
    """The SELECT ... LIMIT statements `step(conn)` sends, in order: the pages a migration reads."""
    pages: list[str] = []

    def count_pages(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "LIMIT" in statement.upper():
            pages.append(statement)

    with db.engine.begin() as conn:
        sa.event.listen(conn, "before_cursor_execute", count_pages)
        step(conn)
        sa.event.remove(conn, "before_cursor_execute", count_pages)
    return pages


def test_tax_numbers_under_every_name_are_sealed_and_their_hashes_keyed(blank_db: Database) -> None:
    db, key = blank_db, generate_key()
    db.use_secret_key(key)
    db.upgrade(BEFORE)
    _old_rows(db, sealed_with=key)
    with db.engine.connect() as conn:
        untouched = conn.execute(sa.select(sa.text("payload_hash, payload")).select_from(sa.text("remote_records"))
                                 .where(sa.text("id in (3, 4)")).order_by(sa.text("id"))).all()

    db.upgrade()

    raw = _raw(db, *SYNC_TABLES)
    assert not [d for d in PLAIN if d in raw], raw
    assert "******217" in raw and all(v in raw for v in READABLE.values()) and "ada@example.test" in raw
    assert content_hash(ADA) not in raw and value_hash("TFN", TFN) not in raw  # no hash of the digits
    with db.read() as s:  # the app reads them back opened
        payloads = dict(s.execute(sa.select(RemoteRecord.remote_id, RemoteRecord.payload)).all())
        assert payloads["R1"] == map_identifiers(ADA, lambda v: v)  # as pulled (a number as its text)
        assert payloads["R1"]["extra"]["identifiers"][0]["IRDNumber"] == "123-456-789"
        assert payloads["R2"] == BO and payloads["REL1"] == RELATIONSHIP
        # A client record's hash is keyed now, and its copies moved along: nothing looks changed.
        keyed = record_hash(s, payloads["R1"])
        assert s.scalar(sa.select(RemoteRecord.payload_hash).where(RemoteRecord.remote_id == "R1")) == keyed
        assert s.scalar(sa.select(Link.remote_hash_at_decision).where(Link.id == 1)) == keyed
        assert s.scalar(sa.select(FieldSyncState.base_hash).where(FieldSyncState.field == "@record")) == keyed
        bo = record_hash(s, BO)  # a rejected suggestion stays rejected
        assert s.scalar(sa.select(RemoteRecord.payload_hash).where(RemoteRecord.remote_id == "R2")) == bo
        assert s.scalar(sa.select(Link.remote_hash_at_decision).where(Link.id == 2)) == bo
        bases = {b.field: b for b in s.scalars(sa.select(FieldSyncState))}
        assert json.loads(bases["TFN"].base_value) == TFN
        assert bases["TFN"].base_hash == field_digest(s, "TFN", TFN) != value_hash("TFN", TFN)
        assert (json.loads(bases["IRDNumber"].base_value), bases["IRDNumber"].base_hash) == (
            "******789", value_hash("IRDNumber", "******789"))  # sealed whole; a masked value's hash stays
        conflicts = {c.field: c for c in s.scalars(sa.select(SyncConflict))}
        assert [json.loads(v) for v in (conflicts["TaxFileNumber"].base_value, conflicts["TaxFileNumber"].local_value,
                                        conflicts["TaxFileNumber"].remote_value)] == [TFN, "111 222 333", "******217"]
    assert sorted((c["field"], c["base"], c["local"], c["remote"]) for c in list_conflicts(db, "T")) == [
        ("TaxFileNumber", "******217", "******333", "******217"),
        ("email", "a@example.test", "b@example.test", "c@example.test")]
    with db.engine.connect() as conn:  # a relationship's hash is not keyed (the app hashes it whole); R4 was sealed
        now = conn.execute(sa.select(sa.text("payload_hash, payload")).select_from(sa.text("remote_records"))
                           .where(sa.text("id in (3, 4)")).order_by(sa.text("id"))).all()
    assert now[0][0] == untouched[0][0] and now[1] == untouched[1]
    assert "sealed:v1:" in json.dumps(now[0][1] if isinstance(now[0][1], dict) else json.loads(now[0][1]))

    sealed = _raw(db, *SYNC_TABLES)
    db.downgrade(BEFORE)  # opens nothing again (see the migration's docstring)
    assert _raw(db, *SYNC_TABLES) == sealed
    db.upgrade()  # again: nothing left to do
    assert _raw(db, *SYNC_TABLES) == sealed
    db.downgrade(BEFORE)
    db.use_secret_key(None)  # and with nothing to seal it needs no key
    db.upgrade()
    assert _raw(db, *SYNC_TABLES) == sealed and db.current_revision() == db.head_revision()


def test_without_a_key_it_refuses_naming_the_fix_and_writes_nothing(blank_db: Database) -> None:
    db = blank_db
    db.upgrade(BEFORE)
    _old_rows(db, sealed_with=generate_key())
    before = _raw(db, *SYNC_TABLES)

    with pytest.raises(SecretKeyError) as refused:
        db.upgrade()

    # Three records, two merge bases (a masked one too: sealed whole) and one conflict; R4 is sealed already.
    assert str(refused.value) == (
        "6 remote records, merge bases or conflicts hold a tax number and SYNCWORKER_SECRET_KEY is not set, so "
        "this migration cannot encrypt them: set the key (`syncworker keygen` makes a new one)")
    assert _raw(db, *SYNC_TABLES) == before and db.current_revision() == BEFORE


def test_it_reads_the_tables_a_page_at_a_time_and_seals_every_page(blank_db: Database,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """15,000 clients' payloads are never read at once: each query takes at most PAGE rows, by primary key,
    and the rows of every page are sealed (here 2 rows a page, 7 records and 7 merge bases)."""
    db, key = blank_db, generate_key()
    db.use_secret_key(key)
    db.upgrade(BEFORE)
    migration = importlib.import_module("syncworker.migrations.versions.0011_identifier_names_sealed")
    monkeypatch.setattr(migration, "PAGE", 2)
    now = sa.func.current_timestamp()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO tenants (id, name, settings, created_at, updated_at) "
                             "VALUES (1, 'T', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        for i in range(1, 8):
            payload = {"id": f"R{i}", "name": f"N{i}", "extra": {"TFN": f"{i}00 000 00{i}"}}
            conn.execute(sa.insert(_remote).values(
                id=i, tenant_id=1, system="xero", record_type="client", remote_id=f"R{i}", payload=payload,
                payload_hash=content_hash(payload), remote_status="active", first_seen_at=now, last_seen_at=now,
                changed_at=now))
            conn.exec_driver_sql(
                "INSERT INTO clients (id, tenant_id, external_id, kind, display_name, other_emails, status, version, "
                f"created_at, updated_at) VALUES ({i}, 1, 'C{i}', 'individual', 'N{i}', '[]', 'active', 1, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
            conn.exec_driver_sql(
                "INSERT INTO links (id, tenant_id, system, client_id, remote_id, status, method, reasons, created_at, "
                f"updated_at) VALUES ({i}, 1, 'xero', {i}, 'R{i}', 'linked', 'manual', '[]', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)")
            conn.exec_driver_sql(
                "INSERT INTO field_sync_state (link_id, field, base_value, base_hash, source, synced_at) VALUES "
                f"({i}, 'tfn', '\"{i}00 000 00{i}\"', 'plain', 'both', CURRENT_TIMESTAMP)")
    pages = paged_selects(db, migration.seal)

    # 2 rows a page: four pages of records (the last one short), four of merge bases; each after the last id.
    assert [p.split("FROM ")[1].split()[0] for p in pages] == ["remote_records"] * 4 + ["field_sync_state"] * 4
    assert sum(" > " in p for p in pages) == 6
    assert not [f"{i}00000000{i}" for i in range(1, 8) if f"{i}00000000{i}" in _raw(db, *SYNC_TABLES)]
    with db.read() as s:
        assert [p["extra"]["TFN"] for p in s.scalars(sa.select(RemoteRecord.payload).order_by(RemoteRecord.id))] \
            == [f"{i}00 000 00{i}" for i in range(1, 8)]
        assert all(b.base_hash == field_digest(s, "tfn", json.loads(b.base_value))
                   for b in s.scalars(sa.select(FieldSyncState)))
    sealed = _raw(db, *SYNC_TABLES)
    db.upgrade()  # the migration itself: nothing left
    assert _raw(db, *SYNC_TABLES) == sealed


def test_a_downgrade_to_0006_opens_what_0011_sealed_under_the_other_names(blank_db: Database) -> None:
    """Revision 0006's code opens no sync value, so 0007's downgrade opens them all, `TFN` and `IrdNumber` too,
    not only the three names it sealed."""
    db, key = blank_db, generate_key()
    db.use_secret_key(key)
    db.upgrade(BEFORE)
    _old_rows(db, sealed_with=key)
    db.upgrade()
    assert "sealed:v1:" in _raw(db, *SYNC_TABLES)

    db.downgrade("0006_sealed_tax_numbers")

    raw = _raw(db, *SYNC_TABLES)
    assert "sealed:v1:" not in raw, raw
    assert all(d in raw.replace("\\", "") for d in ("876543217", "111222333", "333444555"))  # TFN, tfN, IrdNumber


def test_seal_on_a_connection_without_a_key_refuses_naming_the_fix(blank_db: Database) -> None:
    """`seal(bind)` outside Alembic (as the paging test runs it) refuses as the upgrade does, not with an
    AttributeError from looking for Alembic's connection."""
    db = blank_db
    db.upgrade(BEFORE)
    _old_rows(db, sealed_with=generate_key())
    before = _raw(db, *SYNC_TABLES)
    migration = importlib.import_module("syncworker.migrations.versions.0011_identifier_names_sealed")

    with db.engine.begin() as conn, pytest.raises(SecretKeyError, match="SYNCWORKER_SECRET_KEY is not set"):
        migration.seal(conn)

    assert _raw(db, *SYNC_TABLES) == before
