"""Tax file numbers at rest: encrypted in `clients` with a keyed hash beside them, masked in the append-only
audit log, readable in full only through the key and only where the operator asks; the migration seals the
values stored before it, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from syncworker.cli.main import cli
from syncworker.services.importer import import_clients
from syncworker.services.queries import show_client
from syncworker.services.tenants import add_tenant
from syncworker.store.crypto import SecretKeyError, generate_key
from syncworker.store.db import Database
from syncworker.store.mapping import client_profile
from syncworker.store.models import AuditEntry, Client

TENANT = "Harbour Accounting"
TFN = "876 543 217"  # a made-up number with a valid TFN checksum shape; no real person's
DIGITS = "876543217"


def _import(db: Database, tmp_path: Path, tfn: str = TFN) -> None:
    path = tmp_path / "clients.csv"
    path.write_text(f"id,kind,name,given_name,family_name,tax_number\nC1,individual,Ada Quill,Ada,Quill,{tfn}\n"
                    "C2,company,Quill Holdings,,,\n", encoding="utf-8")
    assert import_clients(db, TENANT, path).rejected == []


def _raw(db: Database, sql: str) -> str:
    with db.engine.connect() as conn:
        return json.dumps([list(map(str, row)) for row in conn.exec_driver_sql(sql)])


def test_the_row_holds_ciphertext_and_a_keyed_hash_and_the_orm_reads_the_number(db: Database, tmp_path: Path) -> None:
    db.use_secret_key(generate_key())
    add_tenant(db, TENANT)
    _import(db, tmp_path)

    raw = _raw(db, "SELECT tax_number, tax_number_hash FROM clients")
    assert DIGITS not in raw.replace(" ", "") and "876 543" not in raw and "sealed:v1:" in raw
    with db.read() as s:
        ada = s.scalar(sa.select(Client).where(Client.external_id == "C1"))
        assert ada is not None and client_profile(ada).tax_number == TFN  # what the matcher compares
        # Found by the number in any spelling, through the hash: nothing decrypted, nothing scanned.
        found = s.scalars(sa.select(Client.external_id).where(Client.tax_number_hash == DIGITS)).all()
        assert found == ["C1"]
        assert s.scalar(sa.select(Client.tax_number_hash).where(Client.external_id == "C2")) is None

    # A second import of the same file changes nothing (the hash is not mistaken for a change).
    path = tmp_path / "again.csv"
    path.write_text(f"id,kind,name,given_name,family_name,tax_number\nC1,individual,Ada Quill,Ada,Quill,{TFN}\n",
                    encoding="utf-8")
    assert import_clients(db, TENANT, path).unchanged == 1


def test_the_audit_log_keeps_only_the_last_digits(db: Database, tmp_path: Path) -> None:
    db.use_secret_key(generate_key())
    add_tenant(db, TENANT)
    _import(db, tmp_path)
    _import(db, tmp_path, tfn="876 543 999")  # an update: before and after both hold a number
    with db.session() as s:  # an operator's edit through the ORM is masked the same way
        s.add(AuditEntry(tenant_id=None, actor="t", origin="operator", target="local", entity="conflict",
                         entity_id="1", action="resolve", after={"field": "tax_number", "value": TFN}))

    raw = _raw(db, "SELECT before, after FROM audit_log")
    assert DIGITS not in raw.replace(" ", "") and "876543999" not in raw.replace(" ", "")
    assert "******217" in raw and "******999" in raw


def test_the_operator_sees_the_full_number_only_when_asking_and_that_is_audited(db: Database, tmp_path: Path) -> None:
    db.use_secret_key(generate_key())
    add_tenant(db, TENANT)
    _import(db, tmp_path)

    assert show_client(db, TENANT, "C1")["profile"]["tax_number"] == "******217"
    assert show_client(db, TENANT, "C1", reveal_tax_number="Robin Ops")["profile"]["tax_number"] == TFN
    with db.read() as s:
        actors = s.scalars(sa.select(AuditEntry.actor).where(AuditEntry.action == "reveal_tax_number")).all()
    assert actors == ["Robin Ops"]


def test_without_a_key_a_tax_number_is_refused_in_one_line_naming_the_fix(sqlite_db: Database, tmp_path: Path) -> None:
    add_tenant(sqlite_db, TENANT)
    path = tmp_path / "clients.csv"
    path.write_text(f"id,kind,name,tax_number\nC1,individual,Ada Quill,{TFN}\n", encoding="utf-8")
    env = {"SYNCWORKER_DATABASE_URL": sqlite_db.connect_url, "SYNCWORKER_SECRET_KEY": ""}

    result = CliRunner().invoke(cli, ["import", "clients", str(path), "--tenant", TENANT], env=env)

    assert result.exit_code == 1
    message = result.output.strip()
    assert "SYNCWORKER_SECRET_KEY is not set" in message and "keygen" in message
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert "Ada" not in message and "876" not in message
    with pytest.raises(SecretKeyError):
        import_clients(sqlite_db, TENANT, path)


def _plain_client(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO tenants (id, name, settings, created_at, updated_at) "
                             "VALUES (1, 'T', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        conn.exec_driver_sql(
            "INSERT INTO clients (tenant_id, external_id, kind, display_name, other_emails, tax_number, status, "
            "version, created_at, updated_at) VALUES "
            f"(1, 'C1', 'individual', 'Ada', '[]', '{TFN}', 'active', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")


def _migration_round_trip(db: Database) -> None:
    key = generate_key()
    db.use_secret_key(key)
    db.upgrade("0005_run_statuses")
    _plain_client(db)  # data as an older version stored it
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO audit_log (tenant_id, at, actor, origin, target, entity, entity_id, action, after) VALUES "
            f"(1, CURRENT_TIMESTAMP, 'import', 'local', 'local', 'client', 'C1', 'create', "
            f"'{{\"tax_number\": \"{TFN}\", \"display_name\": \"Ada\"}}')")

    db.upgrade()

    raw = _raw(db, "SELECT tax_number, tax_number_hash FROM clients") + _raw(db, "SELECT after FROM audit_log")
    assert DIGITS not in raw.replace(" ", "") and "******217" in raw
    with db.read() as s:
        assert s.scalar(sa.select(Client.tax_number)) == TFN
        assert s.scalar(sa.select(Client.external_id).where(Client.tax_number_hash == DIGITS)) == "C1"
    with pytest.raises(sa.exc.DBAPIError), db.engine.begin() as conn:  # the audit log is append-only again
        conn.exec_driver_sql("DELETE FROM audit_log")

    db.downgrade("0005_run_statuses")
    assert _raw(db, "SELECT tax_number FROM clients") == json.dumps([[TFN]])
    db.upgrade()


def test_the_migration_seals_stored_numbers_and_the_downgrade_opens_them(blank_db: Database) -> None:
    _migration_round_trip(blank_db)


def test_the_migration_refuses_plain_numbers_without_a_key(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade("0005_run_statuses")
    _plain_client(db)
    with pytest.raises(SecretKeyError, match="1 clients hold a tax number and SYNCWORKER_SECRET_KEY is not set"):
        db.upgrade()
    db.dispose()


def test_the_start_up_and_health_check_also_tries_a_sealed_tax_number(sqlite_db: Database, tmp_path: Path) -> None:
    from syncworker.store.crypto import secret_key_problem

    key = generate_key()
    sqlite_db.use_secret_key(key)
    add_tenant(sqlite_db, TENANT)
    assert secret_key_problem(sqlite_db, None) is None  # nothing sealed yet
    _import(sqlite_db, tmp_path)

    assert secret_key_problem(sqlite_db, key) is None
    assert "cannot be decrypted" in str(secret_key_problem(sqlite_db, generate_key()))
    assert "is not set" in str(secret_key_problem(sqlite_db, None))
