"""The start order of the test files under pytest-xdist (tests/scheduling.py)."""

from __future__ import annotations

from pathlib import Path

from tests.scheduling import LONG_FILES_FIRST, start_order

ROOT = Path(__file__).resolve().parents[1]


def test_the_long_files_named_are_test_files_that_exist() -> None:
    assert [name for name in LONG_FILES_FIRST if not (ROOT / name).is_file()] == []
    assert all(Path(name).name.startswith("test_") for name in LONG_FILES_FIRST)


def test_the_long_files_go_first_in_the_order_named_and_the_others_keep_theirs() -> None:
    long_one, long_two = LONG_FILES_FIRST[1], LONG_FILES_FIRST[0]
    assert start_order(["tests/b.py", long_one, "tests/a.py", long_two, "tests/c.py"]) == [
        long_two, long_one, "tests/b.py", "tests/a.py", "tests/c.py"]
