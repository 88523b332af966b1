"""Large lists are normalised partly in a second process: the tables, and so every decision, are the
same as when one process does it all, and any failure over there only costs time."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import fields

import numpy as np
import pytest

from syncworker.matching import MatchConfig, find_duplicates, match_records
from syncworker.matching.features import Table, Vocab, build_table
from syncworker.matching.tables import _Background, build_dedupe_table, build_link_tables
from syncworker.sample import generate_practice

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


def test_link_tables_equal_those_built_in_one_process(practice) -> None:
    left, right = build_link_tables(practice.local, practice.remote, SPLIT)
    vocab = Vocab()
    _assert_same_table(left, build_table(practice.local, vocab, "AU"))
    _assert_same_table(right, build_table(practice.remote, vocab, "AU"))


@pytest.mark.parametrize("drop", [0, 1])  # an even and an odd count: the halves split people and orgs apart
def test_dedupe_table_of_two_halves_equals_the_whole(practice, drop: int) -> None:
    records = practice.local[drop:]
    _assert_same_table(build_dedupe_table(records, SPLIT), build_table(records, Vocab(), "AU"))


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
    _assert_same_table(left, build_table(practice.local, vocab, "AU"))
    _assert_same_table(right, build_table(practice.remote, vocab, "AU"))
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
