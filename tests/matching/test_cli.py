"""The stateless `match` and `dedupe` commands on canonical CSV files."""

import csv
import io
import json

import pytest
from click.testing import CliRunner

from syncworker.cli.match_cmds import commands, dedupe, match
from syncworker.domain.profile import CLIENT_CSV_COLUMNS
from syncworker.matching import MatchConfig
from syncworker.matching.blocking import dedupe_candidates, link_candidates
from syncworker.matching.csvio import read_file
from syncworker.matching.tables import build_dedupe_table, build_link_tables

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
    assert list(rows[0]) == ["local_id", "remote_id", "score", "weight", "decision", "reasons"]
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
    assert list(rows[0]) == ["id_a", "id_b", "score", "weight", "decision", "cluster_id", "reasons"]
    assert rows[0]["decision"] == "duplicate" and rows[0]["cluster_id"]


def test_malformed_values_are_kept_compared_and_counted(tmp_path):
    """A date with a typo, an unknown kind and a broken email do not stop the run: the record is still
    compared (its date's digits land next to the right date) and each column's count is reported."""
    bad = _write(tmp_path / "bad.csv", [
        _row(id="a", kind="individual", name="Ann Lee", given_name="Ann", family_name="Lee",
             email="ann.lee@example.com", date_of_birth="1853-01-18"),
        _row(id="b", kind="spaceship", name="Ann Lee", given_name="Ann", family_name="Lee",
             email="ann.lee@example", date_of_birth="1853-01-81"),
        _row(id="c", kind="individual", name="Bob Stone", date_of_birth="yesterday"),
        *_fillers("f"),
    ])
    out = tmp_path / "o.csv"
    result = CliRunner().invoke(dedupe, [str(bad), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["input"]["records"]["unparsed"] == {"date_of_birth": 2, "email": 1, "kind": 1}
    pairs = list(csv.DictReader(out.read_text().splitlines()))
    assert {(p["id_a"], p["id_b"]) for p in pairs} == {("a", "b")}
    text = CliRunner().invoke(dedupe, [str(bad), "--out", str(out)])
    assert "unparsed: date_of_birth 2, email 1, kind 1" in text.output


def test_only_an_unreadable_file_or_a_missing_id_or_name_column_is_refused(tmp_path):
    no_kind = tmp_path / "nokind.csv"
    no_kind.write_text("id,name,email\n1,Ann Lee,ann@lee.com\n2,Ann Lee,ann@lee.com\n,Nobody,\n2,Again,\n")
    result = CliRunner().invoke(dedupe, [str(no_kind), "--out", str(tmp_path / "o.csv"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["input"]["records"]["skipped"] == {"no id": 1, "repeated id": 1}
    no_name = tmp_path / "noname.csv"
    no_name.write_text("id,kind,email\n1,individual,ann@lee.com\n")
    result = CliRunner().invoke(dedupe, [str(no_name), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code != 0 and "missing required column(s): name" in result.output
    not_json = tmp_path / "x.json"
    not_json.write_text("[{\"id\": 1,")
    result = CliRunner().invoke(dedupe, [str(not_json), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code != 0 and "not JSON" in result.output


def test_json_input_is_read_like_csv(tmp_path):
    records = [{"id": "a", "kind": "individual", "name": "Katherine Jones", "email": "kate@jones.com",
                "date_of_birth": "1980-05-06"},
               {"id": "b", "name": "Jones, Kate", "email": "kate@jones.com", "date_of_birth": "06/05/1980"}]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(records))
    out = tmp_path / "o.csv"
    result = CliRunner().invoke(dedupe, [str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [r["decision"] for r in csv.DictReader(out.read_text().splitlines())] == ["duplicate"]




def test_the_commands_read_the_same_columns_as_profiles_would_give():
    """The commands read columns straight from the file (no profile per record): the same columns, value
    for value, as the profiles of those clients give a link run (features.raw_columns), with skipped
    rows, odd kinds, no name column and dates written two ways; a date that is not a date keeps its
    digits, where a profile has none."""
    from dataclasses import fields
    from datetime import date

    from syncworker.domain.profile import Address, ClientKind, ClientProfile
    from syncworker.matching.csvio import ReadReport, read_raw_columns
    from syncworker.matching.features import raw_columns

    text = "\n".join([
        HEADER,
        _row(id="a", kind="individual", name="Ann Lee", given_name="Ann", family_name="Lee", email="ann@lee.com",
             date_of_birth="1853-01-81", address_line1="1 Oak St", postcode="2000", city="Sydney"),
        _row(id="b", kind="spaceship", given_name="Bo", family_name="Stone", date_of_birth="1980-05-06",
             mobile="0411 222 333", address_line2="Level 2"),
        _row(id="c", kind="", name="Harbour Pty Ltd", tax_number="123", business_number="51 824 753 556"),
        _row(id="", name="Nobody"),
        _row(id="a", name="Again"),
        _row(id="d", kind="trust", name="Lee Family Trust", date_of_birth="06/05/1980", region="NSW"),
        # White space around a value, in a middle row of a column (only some columns need stripping),
        # non-breaking too; a date written as another row writes it.
        _row(id=" e", kind="individual", given_name="Cy ", family_name="\u00a0Doe", date_of_birth="1980-05-06",
             city="Perth"),
    ])
    born = date(1980, 5, 6)
    profiles = [
        ClientProfile("a", ClientKind.INDIVIDUAL, "Ann Lee", given_name="Ann", family_name="Lee",
                      email="ann@lee.com", address=Address("1 Oak St", postcode="2000", city="Sydney")),
        ClientProfile("b", ClientKind.INDIVIDUAL, "Bo Stone", given_name="Bo", family_name="Stone",
                      mobile="0411 222 333", address=Address(line2="Level 2"), date_of_birth=born),
        ClientProfile("c", ClientKind.OTHER, "Harbour Pty Ltd", tax_number="123", business_number="51 824 753 556"),
        ClientProfile("d", ClientKind.TRUST, "Lee Family Trust", address=Address(region="NSW"), date_of_birth=born),
        ClientProfile("e", ClientKind.INDIVIDUAL, "Cy Doe", given_name="Cy", family_name="Doe",
                      address=Address(city="Perth"), date_of_birth=born),
    ]
    report = ReadReport()
    got = read_raw_columns(text, report=report)
    expected = raw_columns(profiles)
    for f in fields(expected):
        if f.name != "dobs":
            assert repr(getattr(got, f.name)) == repr(getattr(expected, f.name)), f.name
    assert expected.dobs == [0, 19800506, 19800506]
    assert got.dobs == [18530181, 19800506, 19800506]
    assert report.as_dict() == {"records": 5, "unparsed": {"date_of_birth": 1, "kind": 1},
                                "skipped": {"no id": 1, "repeated id": 1}, "ragged_rows": 0}


def test_values_are_read_as_written_whatever_characters_they_hold():
    """Each column's values are copied into strings laid out together (csvio._in_column_order): the
    copies are the values, also where one holds the character the copy joins them with."""
    from syncworker.matching.csvio import read_raw_columns

    names = ["Ann Lee", "Nul\x00Pty Ltd", "", "José Ñ & Co", "B\tC Trust"]
    text = "\n".join([HEADER, *(_row(id=f"r{k}", kind="company", name=name, city=name, postcode=" 2000 ")
                                for k, name in enumerate(names))])
    got = read_raw_columns(text)
    assert got.ids == [f"r{k}" for k in range(len(names))]
    assert got.org_names == names
    assert got.cities == [name or None for name in names]
    assert got.postcodes == ["2000"] * len(names)


def test_reading_pauses_the_garbage_collector_only_while_it_reads():
    import gc

    from syncworker.matching.csvio import CsvInputError, read_raw_columns

    assert gc.isenabled()
    read_raw_columns("\n".join([HEADER, _row(id="a", name="Ann Lee")]))
    assert gc.isenabled()
    with pytest.raises(CsvInputError):
        read_raw_columns("id,kind\na,individual\n")
    assert gc.isenabled()  # also when the file is refused
    assert gc.get_freeze_count() == 0  # what was read joined the old generation, not a frozen one
    gc.freeze()  # an application that freezes its objects (before forking) keeps them frozen
    try:
        frozen = gc.get_freeze_count()
        read_raw_columns("\n".join([HEADER, _row(id="a", name="Ann Lee")]))
        # Not an exact count: a frozen object another thread lets go of (pytest-xdist's) leaves the
        # permanent generation meanwhile. Freezing what was read would grow it; unfreezing would empty it.
        assert frozen // 2 < gc.get_freeze_count() <= frozen and gc.isenabled()
    finally:
        gc.unfreeze()

def _blocked_pairs(mode, paths):
    """The candidate pairs syncworker's blocking yields on these files, counted through its parts."""
    config = MatchConfig.default()
    sides = [read_file(p)[0] for p in paths]
    if mode == "link":
        return len(link_candidates(*build_link_tables(*sides, config), config.max_block_pairs)[0])
    return len(dedupe_candidates(build_dedupe_table(sides[0], config), config.max_block_pairs)[0])


def test_json_summaries_count_the_candidate_pairs_blocking_put_side_by_side(tmp_path):
    """`candidate_pairs` (JSON only; the text summary is unchanged): every pair compared, so at least
    one per row written and at most every pair there is, and exactly what blocking yields: here more
    than the rows, as the people share one street address."""
    people = [_row(id=f"p{i}", kind="individual", name=f"{g} {f}", email=f"{g.lower()}@{f.lower()}.com",
                   date_of_birth=f"19{60 + i}-0{1 + i % 9}-1{i % 10}", address_line1="12 Banksia St", postcode="2000")
              for i, (g, f) in enumerate([("Kate", "Jones"), ("Katherine", "Jones"), ("Ann", "Lee"), ("Anne", "Lee"),
                                          ("Bob", "Stone"), ("Robert", "Stone")])]
    local = _write(tmp_path / "local.csv", [*people[0::2], *_fillers("a")])
    remote = _write(tmp_path / "remote.csv", [*people[1::2], *_fillers("b")])
    records = _write(tmp_path / "records.csv", [*people, *_fillers("f")])
    for command, mode, paths, most in ((match, "link", [local, remote], 33 * 33), (dedupe, "dedupe", [records], 36 * 35 // 2)):
        out = tmp_path / f"{mode}.csv"
        result = CliRunner().invoke(command, [*map(str, paths), "--out", str(out), "--json"])
        assert result.exit_code == 0, result.output
        written = len(list(csv.DictReader(out.read_text().splitlines())))
        s = json.loads(result.output)
        pairs = s["candidate_pairs"]
        assert 1 <= written <= pairs <= most, (mode, written, pairs)
        assert pairs == _blocked_pairs(mode, paths), mode
        line = (f"{s['local']} local, {s['remote']} remote: {s['link']} links, {s['review']} to review -> {out}"
                if mode == "link" else f"{s['records']} records: {s['duplicate']} duplicate pairs in {s['clusters']} "
                                       f"clusters, {s['review']} to review -> {out}")
        text = CliRunner().invoke(command, [*map(str, paths), "--out", str(out)])
        assert text.exit_code == 0 and text.output == line + "\n"
