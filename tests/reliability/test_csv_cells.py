"""No CSV we write starts a cell from data with `=`, `+`, `-`, `@`, tab or CR (OWASP CSV injection): the
links export, the rejects file of an import, and the stateless `match`/`dedupe` outputs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from syncworker.domain.csvsafe import FORMULA_START, safe_cell, safe_column, safe_writer
from syncworker.services.importer import import_clients
from syncworker.services.links import export_links_csv
from syncworker.services.tenants import add_tenant
from syncworker.store.db import Database
from syncworker.store.models import Link
from tests.factories import make_client

HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(1+1)*cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)",
           '=HYPERLINK("http://evil.example","click")', "\t=1+1", "\r=1+1"]


def cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]


def assert_inert(text: str) -> None:
    bad = [c for c in cells(text) if c.startswith(FORMULA_START) and not c.lstrip("+-").replace(".", "").isdigit()]
    assert not bad, bad


@pytest.mark.parametrize("value", HOSTILE)
def test_a_formula_gets_a_leading_quote_and_numbers_stay_numbers(value: str) -> None:
    assert safe_cell(value) == "'" + value
    assert [safe_cell(v) for v in ("-3.25", "+61", "0.5", "plain", 7)] == ["-3.25", "+61", "0.5", "plain", 7]


@pytest.mark.parametrize("at", [0, 1, 3])
def test_a_column_is_neutralised_like_its_cells_wherever_the_formula_sits(at: int) -> None:
    for value in [*HOSTILE, "-3.25"]:
        column = ["plain", "L1", "x-y", "ok"]
        column[at] = value
        assert safe_column(column) == [safe_cell(v) for v in column]
    assert safe_column(["a", "b"]) == ["a", "b"]
    buffer = io.StringIO()
    safe_writer(buffer).writecolumns([["id1", HOSTILE[0]], ["-1.50", "2"]])
    assert cells(buffer.getvalue()) == ["id1", "-1.50", "'" + HOSTILE[0], "2"]


def test_columns_are_written_as_csv_writer_writes_their_rows() -> None:
    awkward = ["plain", "", "a,b", 'say "hi"', "two\nlines", "cr\rhere", " spaced ", "-3.25", "-x", HOSTILE[4]]
    columns = [awkward, list(reversed(awkward)), ["1"] * len(awkward)]
    buffer, expected = io.StringIO(), io.StringIO()
    safe_writer(buffer).writecolumns(columns)
    csv.writer(expected).writerows(zip(*[[safe_cell(v) for v in c] for c in columns], strict=True))
    assert buffer.getvalue() == expected.getvalue()
    assert list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))[2] == ["a,b", "-3.25", "1"]


def test_links_export_and_import_rejects_are_inert(sqlite_db: Database, tmp_path: Path) -> None:
    add_tenant(sqlite_db, "Cells")
    with sqlite_db.read() as s:
        from syncworker.store.models import Tenant
        tenant_id = s.query(Tenant.id).scalar()
    ids = HOSTILE[:-1]  # (a bare CR in an id would end the row for csv's reader: ids never hold one)
    for i, value in enumerate(ids):
        client = make_client(sqlite_db, tenant_id, value, f"Firm {i}")
        with sqlite_db.session() as s:
            s.add(Link(tenant_id=tenant_id, system="xpm", client_id=client, remote_id=ids[-1 - i],
                       status="suggested", method="auto", reasons=[], score=0.5))
    export = export_links_csv(sqlite_db, "Cells")
    assert len(cells(export)) == 5 * (len(ids) + 1)
    assert_inert(export)

    path = tmp_path / "clients.csv"
    path.write_text("id,kind,name,email\n" + "".join(f'"{v}",robot,"{v}","{v}"\n'.replace('"\r', '"\r')
                                                      for v in HOSTILE[:5]))
    report = import_clients(sqlite_db, "Cells", path, skip_invalid=True)
    rejects = Path(report.rejects_file).read_text()
    assert len(report.rejected) == 5
    assert_inert(rejects)
