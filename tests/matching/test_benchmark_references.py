"""The hand-written blocked-rapidfuzz references that benchmarks/matching/side_by_side.py times syncworker
against: the wide one must do the job a competent hand-writer's pass does (most links, few wrong ones),
or a time ratio to it means nothing; its block cap must hold."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks.matching import reference_wide
from benchmarks.matching.side_by_side import _write, prepare, run_reference, score


def test_the_wide_reference_finds_most_links_where_the_narrow_one_finds_two_thirds(tmp_path: Path) -> None:
    data = prepare("scale", tmp_path, 1500, seed=3)
    figures = {}
    for tool, run in (("reference", run_reference), ("reference_wide", reference_wide.run)):
        out = tmp_path / f"{tool}.csv"
        run("link", data["files"], str(out))
        figures[tool] = score(tool, data, out)["pairs"]
    precision, recall, _ = figures["reference_wide"]
    assert precision >= 0.99 and recall >= 0.95
    assert figures["reference"][1] < 0.8  # the narrow one: a third less of the job


def test_dedupe_keeps_a_typo_and_a_short_form_and_leaves_a_sibling_at_the_same_address(tmp_path: Path) -> None:
    home = {"kind": "individual", "family_name": "Calwinford", "phone": "03 9999 1234", "postcode": "3000",
            "address_line1": "12 Station Street"}
    path = tmp_path / "people.csv"
    _write(path, (
        {**home, "id": "a", "name": "Robert Calwinford", "given_name": "Robert", "date_of_birth": "1970-05-01"},
        {**home, "id": "b", "name": "Bob Calwinfrod", "given_name": "Bob", "family_name": "Calwinfrod"},
        {**home, "id": "c", "name": "Margaret Calwinford", "given_name": "Margaret"},
    ))
    out = tmp_path / "pairs.csv"
    reference_wide.run("dedupe", [str(path)], str(out))
    with out.open(newline="") as f:
        assert [(r["a"], r["b"]) for r in csv.DictReader(f)] == [("a", "b")]


def _office(tmp_path: Path, n: int) -> dict:
    path = tmp_path / f"office{n}.csv"  # everyone gives the office phone: one block of n records
    _write(path, ({"id": f"r{k}", "kind": "individual", "name": f"Person{k} Family{k}", "phone": "02 9000 0000"}
                  for k in range(n)))
    return reference_wide.run("dedupe", [str(path)], str(tmp_path / "pairs.csv"))


def test_a_key_shared_by_more_records_than_the_cap_is_skipped(tmp_path: Path) -> None:
    at_cap = _office(tmp_path, reference_wide.MAX_BLOCK)
    assert at_cap["pairs_scored"] == reference_wide.MAX_BLOCK * (reference_wide.MAX_BLOCK - 1) // 2
    assert at_cap["blocks_skipped"] == 0
    over = _office(tmp_path, reference_wide.MAX_BLOCK + 1)
    assert over["pairs_scored"] == 0 and over["blocks_skipped"] >= 1
