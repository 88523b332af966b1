"""Large lists are normalised partly in a second process: the tables, and so every decision, are the
same as when one process does it all, and any failure over there only costs time."""

from __future__ import annotations

import csv
import logging
import os
import subprocess
import sys
from dataclasses import fields

import numpy as np
import pytest

from syncworker.domain.profile import CLIENT_CSV_COLUMNS
from syncworker.matching import MatchConfig, blocking, find_duplicates, match_records
from syncworker.matching.blocking import link_candidates
from syncworker.matching.compare import compare
from syncworker.matching.csvio import CsvInputError, read_file
from syncworker.matching.features import SORTED_WORDS, Table, Vocab, build_table
from syncworker.matching.keycodes import KeyVocab
from syncworker.matching.model import estimate_model
from syncworker.matching.tables import (
    Prepared,
    _Background,
    build_dedupe_table,
    build_link_tables,
    read_link_sides,
)
from syncworker.sample import generate_practice
from syncworker.sample.generator import _csv_value

ALONE = MatchConfig.default().with_changes(background_table_min=0)
SPLIT = MatchConfig.default().with_changes(background_table_min=1)


@pytest.fixture(scope="module")
def practice():
    return generate_practice(120, 5)  # people, couples, companies and trusts, with their noise


def _assert_same_table(a: Table, b: Table) -> None:
    for f in fields(Table):
        if f.name == "derived":
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype, f.name
            assert np.array_equal(x, y), f.name
        else:
            assert x == y, f.name


def _keys(table: Table) -> list[tuple[int, int]]:
    recs, codes = blocking.key_arrays(table, KeyVocab())
    return sorted(zip(recs.tolist(), codes.tolist(), strict=True))


def _assert_same_keys_made_before(monkeypatch, tables: list[Table], expected: list[Table]) -> None:
    """Each table's blocking keys are those of its expected table, its own parts made with its
    normalising (blocking makes none of them)."""
    wanted = [_keys(t) for t in expected]

    def refuse(*_args):
        raise AssertionError("own keys made again")

    with monkeypatch.context() as patch:
        patch.setattr(blocking, "own_keys", refuse)
        assert [_keys(t) for t in tables] == wanted


def test_link_tables_equal_those_built_in_one_process(practice, monkeypatch) -> None:
    left, right = build_link_tables(practice.local, practice.remote, SPLIT)
    vocab = Vocab()
    expected = [build_table(practice.local, vocab, "AU"), build_table(practice.remote, vocab, "AU")]
    _assert_same_table(left, expected[0])
    _assert_same_table(right, expected[1])
    _assert_same_keys_made_before(monkeypatch, [left, right], expected)


@pytest.mark.parametrize("drop", [0, 1])  # an even and an odd count: the halves split people and orgs apart
def test_dedupe_table_of_two_halves_equals_the_whole(practice, monkeypatch, drop: int) -> None:
    records = practice.local[drop:]
    table, expected = build_dedupe_table(records, SPLIT), build_table(records, Vocab(), "AU")
    _assert_same_table(table, expected)
    _assert_same_keys_made_before(monkeypatch, [table], [expected])


def test_decisions_are_the_same_either_way(practice) -> None:
    assert match_records(practice.local, practice.remote, SPLIT) == match_records(practice.local, practice.remote, ALONE)
    assert find_duplicates(practice.local, SPLIT) == find_duplicates(practice.local, ALONE)


@pytest.mark.parametrize("command", [
    [sys.executable, "-c", "import sys; sys.exit(3)"],  # dies
    [sys.executable, "-c", "import sys; sys.stdin.buffer.read(); print('not a pickle')"],  # answers nonsense
    ["/nonexistent/python"],  # cannot start
], ids=["exits", "garbage", "no-interpreter"])
def test_a_failing_second_process_costs_time_not_results(practice, monkeypatch, caplog, command) -> None:
    monkeypatch.setattr(_Background, "command", command)
    with caplog.at_level(logging.WARNING, logger="syncworker.matching.tables"):
        left, right = build_link_tables(practice.local, practice.remote, SPLIT)
    vocab = Vocab()
    expected = [build_table(practice.local, vocab, "AU"), build_table(practice.remote, vocab, "AU")]
    _assert_same_table(left, expected[0])
    _assert_same_table(right, expected[1])
    assert [_keys(left), _keys(right)] == [_keys(t) for t in expected]  # the remote side's made by blocking
    assert "normalising here instead" in caplog.text
    if command[-1].startswith("import sys; sys.exit"):
        assert "exit status 3" in caplog.text
    # Only a type or an exit status is logged: nothing of the records.
    assert not any(p.name.split()[0] in caplog.text for p in practice.remote)


def test_a_script_without_a_main_guard_runs_once(tmp_path) -> None:
    """multiprocessing's spawn would run the caller's script again in the second process."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from syncworker.matching import MatchConfig, match_records\n"
        "from syncworker.sample import generate_practice\n"
        "print('script ran', flush=True)\n"
        "p = generate_practice(40, 3)\n"
        "config = MatchConfig.default().with_changes(background_table_min=1)\n"
        "print(len(match_records(p.local, p.remote, config)) > 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env,
                         check=True, cwd=tmp_path).stdout
    assert out.split() == ["script", "ran", "True"]


def test_small_lists_or_one_worker_stay_in_one_process(practice, monkeypatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("no second process wanted here")

    monkeypatch.setattr(_Background, "__init__", refuse)
    build_link_tables(practice.local, practice.remote, MatchConfig.default())  # 120 records: below the default
    build_link_tables(practice.local, practice.remote, SPLIT.with_changes(workers=1))
    build_dedupe_table(practice.local, ALONE)


def test_background_table_min_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="background_table_min"):
        MatchConfig.from_mapping({"background_table_min": -1})


def _files(practice, tmp_path):
    paths = []
    for name, profiles in (("local.csv", practice.local), ("remote.csv", practice.remote)):
        path = tmp_path / name
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(CLIENT_CSV_COLUMNS)
            # A date that is not one, so that the reports have something to say.
            writer.writerows([_csv_value(p, c) if c != "date_of_birth" or k else "1853-01-81" for c in CLIENT_CSV_COLUMNS]
                             for k, p in enumerate(profiles))
        paths.append(path)
    return paths


def test_files_read_in_two_processes_give_the_same_tables_reports_and_decisions(practice, tmp_path,
                                                                                 monkeypatch) -> None:
    local_path, remote_path = _files(practice, tmp_path)
    local, local_report, remote, remote_report = read_link_sides(local_path, remote_path, read_file, SPLIT)
    assert isinstance(local, Prepared) and isinstance(remote, Prepared)  # both read and normalised apart
    assert (len(local), len(remote)) == (len(practice.local), len(practice.remote))
    (raw_local, expected_local), (raw_remote, expected_remote) = read_file(local_path), read_file(remote_path)
    assert local_report.as_dict() == expected_local.as_dict() and local_report.unparsed == {"date_of_birth": 1}
    assert remote_report.as_dict() == expected_remote.as_dict() and remote_report.unparsed == {"date_of_birth": 1}
    left, right = build_link_tables(local, remote, SPLIT)
    alone_left, alone_right = build_link_tables(raw_local, raw_remote, ALONE)
    _assert_same_table(left, alone_left)
    _assert_same_table(right, alone_right)
    _assert_same_keys_made_before(monkeypatch, [left, right], [alone_left, alone_right])
    again = read_link_sides(local_path, remote_path, read_file, SPLIT)
    assert match_records(again[0], again[2], SPLIT) == match_records(*read_link_sides(
        local_path, remote_path, read_file, ALONE)[::2], ALONE)


def test_prepared_records_serve_one_run_in_their_region(practice, tmp_path) -> None:
    local, _, remote, _ = read_link_sides(*_files(practice, tmp_path), read_file, SPLIT)
    with pytest.raises(ValueError, match="region 'AU', matched for 'NZ'"):
        build_link_tables(local, remote, SPLIT.with_changes(default_region="NZ"))
    build_link_tables(local, remote, SPLIT)
    with pytest.raises(RuntimeError, match="one run"):
        build_link_tables(local, remote, SPLIT)


def test_the_local_table_comes_with_the_columns_comparing_derives(practice, tmp_path) -> None:
    """read_link_sides codes the local side and makes the columns comparing derives from it while the
    other process works: the run derives none of them again, and they are those it would derive."""
    paths = _files(practice, tmp_path)
    local, _, remote, _ = read_link_sides(*paths, read_file, SPLIT)
    left, right = build_link_tables(local, remote, SPLIT)

    def derived(table: Table) -> set:
        return {key for key in table.derived if key[0] != "own keys"} - {("domain", "email")}  # made with the keys

    made = {key: left.derived[key] for key in derived(left)}
    assert ("sorted", "name_key") in made and ("slip_groups", "given") in made
    assert derived(right) == {("sorted", column) for column in SORTED_WORDS}  # made with its normalising
    estimate_model(left, right, SPLIT, same=False)
    comparison = compare(left, right, *link_candidates(left, right, SPLIT.max_block_pairs), SPLIT.workers)
    assert len(comparison) > 100 and derived(left) == made.keys()  # none derived again
    assert derived(right) <= made.keys()  # none left out: the other side derives no column of its own
    alone, _ = build_link_tables(*(read_file(p)[0] for p in paths), ALONE)
    estimate_model(alone, right, SPLIT, same=False)
    compare(alone, right, comparison.left, comparison.right, SPLIT.workers)  # derives on first use
    assert ("sorted", "name_key") in derived(alone) and len(derived(alone)) >= 20
    for key in derived(alone):
        value, expected = made[key], alone.derived[key]
        if value.dtype == object:
            assert value.tolist() == expected.tolist(), key
        else:
            assert value.dtype == expected.dtype and np.array_equal(value, expected), key


@pytest.mark.parametrize("command", [
    [sys.executable, "-c", "import sys; sys.exit(3)"],
    [sys.executable, "-c", "import sys, pickle; sys.stdin.buffer.read(); pickle.dump((1, 2), sys.stdout.buffer)"],
], ids=["exits", "wrong-answer"])
def test_a_failing_file_reader_over_there_costs_time_not_results(practice, tmp_path, monkeypatch, caplog,
                                                                 command) -> None:
    paths = _files(practice, tmp_path)
    expected = match_records(*read_link_sides(*paths, read_file, ALONE)[::2], ALONE)
    monkeypatch.setattr(_Background, "command", command)
    with caplog.at_level(logging.WARNING, logger="syncworker.matching.tables"):
        local, _, remote, report = read_link_sides(*paths, read_file, SPLIT)
    assert "normalising here instead" in caplog.text and report.unparsed == {"date_of_birth": 1}
    assert match_records(local, remote, SPLIT) == expected


def test_an_unreadable_file_is_refused_as_when_read_in_one_process(practice, tmp_path, monkeypatch) -> None:
    local_path, remote_path = _files(practice, tmp_path)
    broken = tmp_path / "broken.csv"
    broken.write_text("id,kind\n" + "x,individual\n" * 200)
    with pytest.raises(CsvInputError, match="broken.csv: missing required column"):
        read_link_sides(local_path, broken, read_file, SPLIT)
    abandoned = []
    monkeypatch.setattr(_Background, "abandon", lambda self: abandoned.append(self._raw))
    with pytest.raises(CsvInputError, match="broken.csv: missing required column"):
        read_link_sides(broken, remote_path, read_file, SPLIT)
    assert abandoned == [remote_path]  # the other file's process is not left running


def test_a_failure_while_this_side_is_prepared_stops_the_other_process(practice, tmp_path, monkeypatch) -> None:
    """Not only reading: normalising, coding or deriving this side failing (a bug, MemoryError, Ctrl-C) must
    not leave the other process normalising the other file for nothing."""
    import syncworker.matching.tables as tables

    abandoned = []
    monkeypatch.setattr(_Background, "abandon", lambda self: abandoned.append(self._raw))

    def fails(_table) -> None:
        raise MemoryError("deriving")

    monkeypatch.setattr(tables, "derive_columns", fails)
    local_path, remote_path = _files(practice, tmp_path)
    with pytest.raises(MemoryError, match="deriving"):
        read_link_sides(local_path, remote_path, read_file, SPLIT)
    assert abandoned == [remote_path]
