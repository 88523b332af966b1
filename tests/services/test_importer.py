"""Imports are all-or-nothing by default, name every bad row, and are idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncworker.services.files import FileUnreadable
from syncworker.services.importer import ImportRejected, import_clients, import_contacts
from syncworker.services.tenants import add_tenant
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, Client, Contact, JobRun

HEADER = "id,kind,name,given_name,family_name,email,phone,date_of_birth,address_line1,city,postcode,country\n"
GOOD = (
    "C1,individual,Jane Citizen,Jane,Citizen,Jane@Example.com,0412 345 678,1980-02-29,1 George St,Sydney,2000,AU\n"
    "C2,company,Acme Pty Ltd,,,,02 9999 0000,,,,,\n"
    "C3,trust,The Citizen Family Trust,,,,,,,,,\n"
)


def _write(tmp_path: Path, text: str | bytes, name: str = "clients.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _snapshot(db: Database) -> list[tuple]:
    with db.session() as s:
        return [tuple(r) for r in s.execute(sa.select(Client.external_id, Client.display_name, Client.version,
                                                      Client.email).order_by(Client.external_id))]


@pytest.fixture
def tenant(db: Database) -> str:
    add_tenant(db, "Test Practice")
    return "Test Practice"


def test_import_creates_clients_and_records_run(db: Database, tenant: str, tmp_path: Path) -> None:
    report = import_clients(db, tenant, _write(tmp_path, HEADER + GOOD))
    assert (report.created, report.updated, report.unchanged, report.rejected) == (3, 0, 0, [])
    with db.session() as s:
        jane = s.scalar(sa.select(Client).where(Client.external_id == "C1"))
        assert jane.email == "jane@example.com" and str(jane.date_of_birth) == "1980-02-29"
        assert jane.street_city == "Sydney" and jane.kind == "individual"
        run = s.get(JobRun, report.run_id)
        assert run.status == "succeeded" and run.counts["created"] == 3
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "create")) == 4


def test_reimport_same_file_changes_nothing(db: Database, tenant: str, tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + GOOD)
    import_clients(db, tenant, path)
    before = _snapshot(db)
    report = import_clients(db, tenant, path)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert _snapshot(db) == before


def test_reimport_updates_only_changed_records(db: Database, tenant: str, tmp_path: Path) -> None:
    import_clients(db, tenant, _write(tmp_path, HEADER + GOOD))
    changed = GOOD.replace("Acme Pty Ltd", "Acme Holdings Pty Ltd")
    report = import_clients(db, tenant, _write(tmp_path, HEADER + changed, "v2.csv"))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    versions = {r[0]: r[2] for r in _snapshot(db)}
    assert versions == {"C1": 1, "C2": 2, "C3": 1}


BAD_ROWS = (
    "C4,robot,Bad Kind,,,,,,,,,\n"            # line 5: bad kind
    "C5,individual,Bad Date,,,,,1980-13-45,,,,\n"  # line 6: bad date
    ",company,Missing Id,,,,,,,,,\n"          # line 7: missing id
    "C1,company,Duplicate Id,,,,,,,,,\n"       # line 8: duplicate of line 2
)


def test_bad_rows_reject_the_whole_file_and_name_every_row(db: Database, tenant: str, tmp_path: Path) -> None:
    import_clients(db, tenant, _write(tmp_path, HEADER + "C9,company,Already There,,,,,,,,,\n", "first.csv"))
    before = _snapshot(db)
    raw = (HEADER + GOOD + BAD_ROWS).encode() + b"C6,company,Caf\xe9 Latin-1,,,,,,,,,\n"  # line 9: not UTF-8
    with pytest.raises(ImportRejected) as err:
        import_clients(db, tenant, _write(tmp_path, raw))
    problems = {r.location: " ".join(r.reasons) for r in err.value.report.rejected}
    assert "kind" in problems["line 5"] and "robot" in problems["line 5"]
    assert "date_of_birth" in problems["line 6"]
    assert "id: is required" in problems["line 7"]
    assert "duplicate id 'C1'" in problems["line 8"] and "duplicate id 'C1'" in problems["line 2"]
    assert "not valid UTF-8" in problems["line 9"]
    assert _snapshot(db) == before  # nothing written
    with db.session() as s:
        failed = s.scalar(sa.select(JobRun).order_by(JobRun.id.desc()))
        assert failed.status == "failed" and len(failed.errors) == 6


def test_skip_invalid_imports_good_rows_and_writes_rejects(db: Database, tenant: str, tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + GOOD + BAD_ROWS)
    report = import_clients(db, tenant, path, skip_invalid=True)
    # Both rows sharing id C1 are rejected: neither can be trusted to be the right one.
    assert report.created == 2 and len(report.rejected) == 5
    rejects = Path(report.rejects_file).read_text()
    assert "robot" in rejects and rejects.count("\n") == 6
    with db.session() as s:
        assert s.scalar(sa.select(JobRun.status).where(JobRun.id == report.run_id)) == "partial"


def test_header_problems_are_named(db: Database, tenant: str, tmp_path: Path) -> None:
    with pytest.raises(FileUnreadable, match="missing required column.*kind.*unknown column.*colour"):
        import_clients(db, tenant, _write(tmp_path, "id,name,colour\n1,x,red\n"))


def test_json_import_and_wrong_shapes(db: Database, tenant: str, tmp_path: Path) -> None:
    data = [{"id": "J1", "kind": "company", "name": "Json Pty Ltd"}, {"id": "J2", "kind": "trust", "name": ["x"]}]
    with pytest.raises(ImportRejected) as err:
        import_clients(db, tenant, _write(tmp_path, json.dumps(data), "c.json"))
    assert [r.location for r in err.value.report.rejected] == ["record 2"]
    report = import_clients(db, tenant, _write(tmp_path, json.dumps({"clients": data[:1]}), "ok.json"))
    assert report.created == 1


def test_contacts_need_a_known_client(db: Database, tenant: str, tmp_path: Path) -> None:
    import_clients(db, tenant, _write(tmp_path, HEADER + GOOD))
    contacts = ("id,client_id,name,email,position,is_primary\n"
                "K1,C2,Jane Citizen,jane@example.com,Director,yes\n"
                "K2,C404,Nobody Known,,,no\n"
                "K3,C2,Bad Flag,,,maybe\n")
    with pytest.raises(ImportRejected) as err:
        import_contacts(db, tenant, _write(tmp_path, contacts, "contacts.csv"))
    problems = {r.location: " ".join(r.reasons) for r in err.value.report.rejected}
    assert set(problems) == {"line 3", "line 4"} and "C404" in problems["line 3"] and "maybe" in problems["line 4"]
    report = import_contacts(db, tenant, _write(tmp_path, contacts, "contacts.csv"), skip_invalid=True)
    assert report.created == 1
    with db.session() as s:
        k1 = s.scalar(sa.select(Contact))
        assert k1.is_primary and k1.position == "Director"


def test_unknown_tenant(db: Database, tmp_path: Path) -> None:
    from syncworker.services.tenants import TenantError

    with pytest.raises(TenantError, match="no tenant named 'Nope'"):
        import_clients(db, "Nope", _write(tmp_path, HEADER + GOOD))
