"""Tax file numbers where the sync keeps them: a pulled record's payload, a merge base and a conflict hold
them sealed (never in plain text, never as a plain hash), yet the sync still merges them, recognises its own
write when it reads it back, and an operator settles a tax-number conflict seeing only the last digits; the
migration seals what an older version stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncworker.domain.serialize import content_hash
from syncworker.domain.sync import value_hash
from syncworker.services.conflicts import list_conflicts, resolve_conflict
from syncworker.services.field_rules import set_rule
from syncworker.services.runs import RunRecorder
from syncworker.services.snapshots import record_hash
from syncworker.services.sync_run import run_sync
from syncworker.store.crypto import SecretKeyError, generate_key, secret_key_problem
from syncworker.store.db import Database
from syncworker.store.models import (
    Client,
    FieldSyncState,
    JobRun,
    Link,
    RemoteRecord,
    SyncConflict,
    Tenant,
    TenantSystem,
)
from tests.sync.test_conflicts_operator import _cli
from tests.sync.worlds import SyncWorld, xero_world

TFN, DIGITS = "876 543 217", "876543217"  # made-up numbers, no real person's
OTHER, OTHER_DIGITS = "123 456 782", "123456782"
SYNC_TABLES = ("remote_records", "field_sync_state", "sync_conflicts", "links")


def _raw(db: Database, *tables: str) -> str:
    """Every row of `tables` as the database holds it (no column type in between), spaces removed."""
    out = []
    with db.engine.connect() as conn:
        for table in tables:
            out += [list(map(str, row)) for row in conn.exec_driver_sql(f"SELECT * FROM {table}")]
    return json.dumps(out).replace(" ", "")


def _plain_hashes(field: str, *values: str) -> set[str]:
    return {value_hash(field, v) for v in values}


def _sync(w: SyncWorld) -> dict[str, int]:
    report = run_sync(w.ctx, w.tenant, "xero")
    assert report.status == "succeeded", (report.message, report.errors[:3])
    return report.counts


@pytest.fixture
def world(db: Database) -> Iterator[SyncWorld]:
    with xero_world(db, contacts=3) as w:
        yield w


def test_a_sync_keeps_tax_numbers_sealed_and_still_recognises_its_own_write(world: SyncWorld) -> None:
    w = world
    local_id, rid = next(iter(w.pairs.items()))
    w.sim.store.edit(rid, TaxNumber=TFN)

    _sync(w)  # pulled: the payload, the local record and the merge base all hold it

    assert w.local(local_id).tax_number == TFN
    with w.db.read() as s:
        assert s.scalar(sa.select(RemoteRecord.payload).where(RemoteRecord.remote_id == rid))["tax_number"] == TFN
        base = s.scalar(sa.select(FieldSyncState).where(FieldSyncState.field == "tax_number",
                                                        FieldSyncState.base_value.is_not(None)))
        assert base is not None and json.loads(base.base_value) == TFN
    raw = _raw(w.db, *SYNC_TABLES, "clients", "audit_log", "job_runs")
    assert DIGITS not in raw and "sealed:v1:" in raw

    w.edit_local(local_id, tax_number=OTHER)  # pushed to Xero, then read back on the next pull
    pushed = _sync(w)
    assert pushed.get("pushed_fields") == 1 and w.remote(rid).tax_number == OTHER
    writes = w.remote_writes()

    again = _sync(w)  # our own write comes back: nothing to pull, push or queue

    assert again.get("pushed_fields", 0) == again.get("pulled_fields", 0) == again.get("conflicts", 0) == 0
    assert again["unchanged"] == len(w.pairs)  # the record as read back hashes as the write left it
    assert w.remote_writes() == writes and w.local(local_id).tax_number == OTHER
    raw = _raw(w.db, *SYNC_TABLES, "clients", "audit_log", "job_runs")
    assert DIGITS not in raw and OTHER_DIGITS not in raw
    cells = {c for row in json.loads(_raw(w.db, "field_sync_state")) for c in row}
    assert not _plain_hashes("tax_number", TFN, OTHER) & cells  # no hash anyone can reverse by trying numbers
    with w.db.read() as s:  # nor a hash of the whole record, whose other fields are readable
        payload = s.scalar(sa.select(RemoteRecord.payload).where(RemoteRecord.remote_id == rid))
    assert payload["tax_number"] == OTHER and content_hash(payload) not in _raw(w.db, *SYNC_TABLES)


def test_a_tax_number_conflict_shows_the_last_digits_and_resolves(world: SyncWorld) -> None:
    w = world
    local_id, rid = next(iter(w.pairs.items()))
    w.sim.store.edit(rid, TaxNumber=TFN)
    _sync(w)
    set_rule(w.db, w.tenant, field="tax_number", system="xero", policy="manual")
    w.edit_local(local_id, tax_number="111 222 333")
    w.sim.store.edit(rid, TaxNumber=OTHER)

    assert _sync(w)["conflicts"] == 1

    [c] = list_conflicts(w.db, w.tenant, field="tax_number")
    assert (c["local"], c["remote"], c["base"]) == ("******333", "******782", "******217")
    raw = _raw(w.db, *SYNC_TABLES)
    assert not any(d in raw for d in (DIGITS, OTHER_DIGITS, "111222333"))

    done = resolve_conflict(w.ctx, w.tenant, c["id"], take="remote", actor="robin")

    assert (done["status"], done["resolved_value"]) == ("resolved", "******782")
    assert w.local(local_id).tax_number == OTHER
    assert _sync(w).get("conflicts", 0) == 0 and w.remote(rid).tax_number == OTHER
    assert list_conflicts(w.db, w.tenant, field="tax_number") == []
    raw = _raw(w.db, *SYNC_TABLES, "audit_log")
    assert not any(d in raw for d in (DIGITS, OTHER_DIGITS, "111222333"))


def test_a_dry_run_shows_tax_numbers_masked_in_every_output(world: SyncWorld) -> None:
    w = world
    (local_id, rid), (conflicted, crid) = list(w.pairs.items())[:2]
    w.sim.store.edit(rid, TaxNumber=TFN)
    w.sim.store.edit(crid, TaxNumber=TFN)
    _sync(w)
    set_rule(w.db, w.tenant, field="tax_number", system="xero", policy="manual")
    w.edit_local(local_id, tax_number=OTHER)  # a push it would make
    w.edit_local(conflicted, tax_number="111 222 333")  # and a conflict it would open
    w.sim.store.edit(crid, TaxNumber="444 555 666")

    report = run_sync(w.ctx, w.tenant, "xero", dry_run=True)
    cli_json = _cli(w, "sync", "--tenant", w.tenant, "--system", "xero", "--dry-run", "--json")
    cli_text = _cli(w, "sync", "--tenant", w.tenant, "--system", "xero", "--dry-run")

    by_client = {x["local_id"]: x for x in report.records}
    assert [(x["field"], x["from"], x["value"]) for x in by_client[local_id]["would_write"]] == [
        ("tax_number", "******217", "******782")]
    assert [(x["field"], x["local"], x["remote"]) for x in by_client[conflicted]["would_open"]] == [
        ("tax_number", "******333", "******666")]
    assert cli_json.exit_code == cli_text.exit_code == 0, cli_json.output + cli_text.output
    assert "******782" in cli_json.output and "******666" in cli_text.output
    for shown in (json.dumps(report.as_dict()), cli_json.output, cli_text.output.replace(" ", "")):
        assert not any(d in shown for d in (DIGITS, OTHER_DIGITS, "111222333", "444555666")), shown
    assert w.local(local_id).tax_number == OTHER and w.remote(rid).tax_number == TFN  # nothing written


def test_a_tax_number_under_any_spelling_of_its_key_or_as_a_json_number_is_sealed(world: SyncWorld) -> None:
    w = world
    with w.db.session() as s:
        tenant_id = s.scalar(sa.select(Tenant.id).where(Tenant.name == w.tenant))
        payload = {"id": "R9", "name": "Ada", "tax_number": 876543217,  # a number, not text
                   "extra": {"TFN": "111 222 333", "tax_file_number": "444555666", "IRDNumber": "123-456-789",
                             "taxNumber": ["987 654 321"], "TaxNumber": "******217", "phone": "555 0101"}}
        s.add(RemoteRecord(tenant_id=tenant_id, system="xero", record_type="client", remote_id="R9",
                           payload=payload, payload_hash=record_hash(s, payload), remote_status="active"))

    raw = _raw(w.db, "remote_records")
    assert not any(d in raw for d in (DIGITS, "111222333", "444555666", "123-456-789", "987654321")), raw
    assert content_hash(payload) not in raw and "******217" in raw and "5550101" in raw  # the rest as it was
    with w.db.read() as s:
        back = s.scalar(sa.select(RemoteRecord.payload).where(RemoteRecord.remote_id == "R9"))
    assert back["tax_number"] == DIGITS and back["extra"] == payload["extra"]


def test_a_wrong_key_is_caught_at_start_when_only_the_sync_tables_hold_a_sealed_tax_number(
        world: SyncWorld) -> None:
    w = world
    local_id, rid = next(iter(w.pairs.items()))
    w.sim.store.edit(rid, TaxNumber=TFN)
    _sync(w)
    key = w.ctx.settings.secret_key
    with w.db.engine.begin() as conn:  # no credential and no client's tax number left to try the key on
        conn.execute(sa.update(TenantSystem).values(credentials=None))
        conn.execute(sa.update(Client).values(tax_number=None, tax_number_hash=None))

    assert secret_key_problem(w.db, key) is None
    assert "cannot be decrypted" in str(secret_key_problem(w.db, generate_key()))  # a merge base's
    with w.db.engine.begin() as conn:
        conn.execute(sa.delete(FieldSyncState))
    assert secret_key_problem(w.db, key) is None
    assert "cannot be decrypted" in str(secret_key_problem(w.db, generate_key()))  # a pulled record's
    assert "is not set" in str(secret_key_problem(w.db, None))


def test_a_run_stores_an_error_quoting_a_tax_number_masked(db: Database) -> None:
    runs = RunRecorder(db)
    run_id = runs.start("sync", tenant_id=None)
    quoted = f"XeroValidationError: Xero rejected the request: TaxNumber {TFN} is not valid; so is {OTHER_DIGITS}"

    runs.finish(run_id, "partial", errors=[{"link_id": 7, "remote_id": "123456789", "error": quoted}],
                message=f"1 error: {TFN}")

    raw = _raw(db, "job_runs")
    assert DIGITS not in raw and OTHER_DIGITS not in raw
    with db.read() as s:
        run = s.get(JobRun, run_id)
        assert run.errors == [{"link_id": 7, "remote_id": "123456789",  # an id is no free text: kept
                               "error": "XeroValidationError: Xero rejected the request: TaxNumber ******217 is "
                                        "not valid; so is ******782"}]
        assert run.message == "1 error: ******217"


def _plain_sync_rows(db: Database) -> None:
    """A record, a merge base and a conflict holding a tax number, as 0006 left them."""
    with db.engine.begin() as conn:
        run = conn.exec_driver_sql
        run("INSERT INTO tenants (id, name, settings, created_at, updated_at) "
            "VALUES (1, 'T', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        run("INSERT INTO clients (id, tenant_id, external_id, kind, display_name, other_emails, status, version, "
            "created_at, updated_at) VALUES (1, 1, 'C1', 'individual', 'Ada', '[]', 'active', 1, "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        payload = {"id": "R1", "name": "Ada", "tax_number": TFN, "extra": {"TaxNumber": TFN},
                   "email": "ada@example.test"}
        digest = content_hash(payload)
        run("INSERT INTO remote_records (tenant_id, system, record_type, remote_id, payload, payload_hash, "
            f"remote_status, first_seen_at, last_seen_at, changed_at) VALUES (1, 'xero', 'client', 'R1', "
            f"'{json.dumps(payload)}', '{digest}', 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        run("INSERT INTO links (id, tenant_id, system, client_id, remote_id, status, method, reasons, "
            "remote_hash_at_decision, created_at, updated_at) VALUES (1, 1, 'xero', 1, 'R1', 'linked', 'manual', "
            f"'[]', '{digest}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        run("INSERT INTO field_sync_state (link_id, field, base_value, base_hash, source, synced_at) VALUES "
            f"(1, '@record', NULL, '{digest}', 'remote', CURRENT_TIMESTAMP)")
        plain = value_hash("tax_number", TFN)
        run("INSERT INTO field_sync_state (link_id, field, base_value, base_hash, source, synced_at) VALUES "
            f"(1, 'tax_number', '\"{TFN}\"', '{plain}', 'both', CURRENT_TIMESTAMP), "
            f"(1, 'email', '\"ada@example.test\"', '{value_hash('email', 'ada@example.test')}', 'both', "
            "CURRENT_TIMESTAMP)")
        run("INSERT INTO sync_conflicts (tenant_id, link_id, field, base_value, local_value, remote_value, status, "
            f"created_at) VALUES (1, 1, 'tax_number', '\"{TFN}\"', '\"{OTHER}\"', '\"111 222 333\"', 'open', "
            "CURRENT_TIMESTAMP)")


def test_the_migration_seals_stored_sync_values_and_the_downgrade_opens_them(blank_db: Database) -> None:
    db = blank_db
    db.use_secret_key(generate_key())
    db.upgrade("0006_sealed_tax_numbers")
    _plain_sync_rows(db)
    before = _raw(db, *SYNC_TABLES)

    db.upgrade()

    raw = _raw(db, *SYNC_TABLES)
    assert not any(d in raw for d in (DIGITS, OTHER_DIGITS, "111222333"))
    assert value_hash("tax_number", TFN) not in raw and "ada@example.test" in raw  # other fields stay readable
    with db.read() as s:
        payload = s.scalar(sa.select(RemoteRecord.payload))
        assert (payload["tax_number"], payload["extra"]["TaxNumber"]) == (TFN, TFN)
        # The record's hash is keyed now, and the copies of it moved along: nothing looks changed.
        keyed = record_hash(s, payload)
        assert content_hash(payload) not in raw and s.scalar(sa.select(RemoteRecord.payload_hash)) == keyed
        assert s.scalar(sa.select(Link.remote_hash_at_decision)) == keyed
        assert s.scalar(sa.select(FieldSyncState.base_hash).where(FieldSyncState.field == "@record")) == keyed
        base = s.scalar(sa.select(FieldSyncState).where(FieldSyncState.field == "tax_number"))
        assert json.loads(base.base_value) == TFN
        c = s.scalar(sa.select(SyncConflict))
        assert [json.loads(v) for v in (c.base_value, c.local_value, c.remote_value)] == [TFN, OTHER, "111 222 333"]
    assert [(x["local"], x["remote"]) for x in list_conflicts(db, "T")] == [("******782", "******333")]

    db.downgrade("0006_sealed_tax_numbers")

    after = _raw(db, *SYNC_TABLES)
    assert DIGITS in after and content_hash(payload) in after and "sealed:v1:" not in after
    assert sorted(json.loads(after)) == sorted(json.loads(before))  # as it was, plain hash included
    db.upgrade()


def test_the_migration_refuses_stored_sync_values_without_a_key(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade("0006_sealed_tax_numbers")
    _plain_sync_rows(db)
    with pytest.raises(SecretKeyError, match="3 remote records, merge bases or conflicts hold a tax number and "
                                             "SYNCWORKER_SECRET_KEY is not set.*keygen"):
        db.upgrade()
    db.dispose()
