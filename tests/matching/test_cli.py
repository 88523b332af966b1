"""The stateless `match` and `dedupe` commands on canonical CSV files."""

import csv
import io

from click.testing import CliRunner

from syncworker.cli.match_cmds import commands, dedupe, match
from syncworker.domain.profile import CLIENT_CSV_COLUMNS

HEADER = ",".join(CLIENT_CSV_COLUMNS)


def _row(**values):
    buffer = io.StringIO()
    csv.writer(buffer).writerow([values.get(c, "") for c in CLIENT_CSV_COLUMNS])
    return buffer.getvalue().rstrip("\r\n")


def _write(path, rows):
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _fillers(prefix):
    return [_row(id=f"{prefix}{i}", kind="company", name=f"{prefix}filler{i} Pty Ltd", email=f"{prefix}{i}@f.com")
            for i in range(30)]


def test_commands_are_exported():
    assert [c.name for c in commands] == ["match", "dedupe"]


def test_match_writes_one_row_per_local_with_a_candidate(tmp_path):
    local = _write(tmp_path / "local.csv", [
        _row(id="l1", kind="company", name="Acme Widgets Pty Ltd", phone="0412 345 678", email="info@acme.com"),
        *_fillers("a"),
    ])
    remote = _write(tmp_path / "remote.csv", [
        _row(id="r1", kind="company", name="ACME WIDGETS PROPRIETARY LIMITED", phone="+61412345678",
             email="INFO@acme.com"),
        *_fillers("b"),
    ])
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(match, [str(local), str(remote), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert list(rows[0]) == ["local_id", "remote_id", "score", "decision", "reasons"]
    acme = [r for r in rows if r["local_id"] == "l1"]
    assert acme and acme[0]["remote_id"] == "r1" and acme[0]["decision"] == "link"
    assert '"link": ' in result.output


def test_dedupe_writes_pairs_with_cluster_ids(tmp_path):
    records = _write(tmp_path / "records.csv", [
        _row(id="a", kind="individual", name="Katherine Jones", email="kate@jones.com", date_of_birth="1980-05-06"),
        _row(id="b", kind="individual", name="Jones, Kate", email="kate@jones.com", date_of_birth="06/05/1980"),
        *_fillers("f"),
    ])
    out = tmp_path / "dups.csv"
    result = CliRunner().invoke(dedupe, [str(records), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert list(rows[0]) == ["id_a", "id_b", "score", "decision", "cluster_id", "reasons"]
    assert rows[0]["decision"] == "duplicate" and rows[0]["cluster_id"]


def test_bad_csv_names_line_and_reason(tmp_path):
    bad = _write(tmp_path / "bad.csv", [
        _row(id="a", kind="individual", name="Ann Lee"),
        _row(id="b", kind="spaceship", name="Bob Lee"),
    ])
    result = CliRunner().invoke(dedupe, [str(bad), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code != 0
    assert "line 3" in result.output and "spaceship" in result.output


def test_missing_required_column_and_bad_date(tmp_path):
    no_kind = tmp_path / "nokind.csv"
    no_kind.write_text("id,name\n1,Ann\n")
    result = CliRunner().invoke(dedupe, [str(no_kind), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code != 0 and "missing required column(s): kind" in result.output
    bad_date = _write(tmp_path / "date.csv", [_row(id="a", kind="individual", name="Ann", date_of_birth="yesterday")])
    result = CliRunner().invoke(dedupe, [str(bad_date), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code != 0 and "line 2" in result.output and "date_of_birth" in result.output
