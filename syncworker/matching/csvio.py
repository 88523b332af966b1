"""A tolerant reader of canonical client files (CSV or JSON) for the stateless match/dedupe commands.

Matching reads what people actually keep: a malformed value is data, not an error. A date of birth
that is not a date ('1853-01-81') keeps its digits as written (the engine compares them, so a typo
still lands near the right date), an unknown kind is inferred, and every such
value is counted per column in `ReadReport.unparsed`. A file is refused only when it cannot be read
as CSV/JSON at all, or lacks the `id` or `name` column. Rows without an id, or repeating an earlier
id, cannot be reported on and are skipped, and counted. (Imports into the database stay strict:
syncworker/domain/rows.py.)

The CSV is read column by column (one list per column, dates through `date.fromisoformat` once per
distinct value), not as a dict per row.
"""

from __future__ import annotations

import csv
import gc
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from syncworker.domain.profile import CLIENT_CSV_COLUMNS, ClientKind

from .text import JOIN

REQUIRED = ("id", "name")
_KIND_ALIASES = {"person": "individual", "sole trader": "sole_trader", "soletrader": "sole_trader",
                 "organisation": "other", "organization": "other", "": ""}
_KINDS = {k.value: k for k in ClientKind}
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISH = re.compile(r"^(\d{4})\D?(\d{1,2})\D?(\d{1,2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CsvInputError(ValueError):
    """The file cannot be matched at all (not CSV/JSON, or no id/name column); the message says why."""


@dataclass(slots=True)
class ReadReport:
    """What the reader could not take as it is: per column, values it could not parse (kept as data),
    and rows it had to skip, by reason."""

    records: int = 0
    unparsed: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    ragged_rows: int = 0  # rows with more or fewer fields than the header (padded or cut, then read)

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "unparsed": dict(sorted(self.unparsed.items())),
                "skipped": dict(sorted(self.skipped.items())), "ragged_rows": self.ragged_rows}

    def summary(self) -> str:
        """'' when everything was read as it is, else e.g. 'unparsed: date_of_birth 57, kind 2'."""
        parts = []
        if self.unparsed:
            parts.append("unparsed: " + ", ".join(f"{k} {v}" for k, v in sorted(self.unparsed.items())))
        if self.skipped:
            parts.append("skipped rows: " + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())))
        if self.ragged_rows:
            parts.append(f"rows with a wrong number of fields: {self.ragged_rows}")
        return "; ".join(parts)


def parse_date(text: str) -> date | None:
    """A date written YYYY-MM-DD (or YYYYMMDD), DD/MM/YYYY or DD-MM-YYYY; None when it is not one."""
    try:
        return date.fromisoformat(text)  # also takes YYYYMMDD
    except ValueError:
        pass
    m = _DMY.match(text)
    if m:
        try:
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        except ValueError:
            return None
    return None


def dob_digits(text: str) -> int:
    """yyyymmdd of a malformed date as written ('1853-01-81' -> 18530181), even when no such day
    exists, so that a typo is compared digit by digit with the right date; 0 when no year-month-day
    can be read from it."""
    text = text.strip()
    m = _ISH.match(text)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        m = _DMY.match(text)
        if not m:
            return 0
        y, mo, d = int(m.group(3)), int(m.group(2)), int(m.group(1))
    return y * 10000 + mo * 100 + d if mo < 100 and d < 100 else 0


def _kind_of(text: str, person_hint: bool) -> tuple[ClientKind, bool]:
    """(kind, understood). Unknown or empty: a person when it has person fields, else 'other'."""
    value = text.strip().lower()
    value = _KIND_ALIASES.get(value, value)
    kind = _KINDS.get(value)
    if kind is not None:
        return kind, True
    return (ClientKind.INDIVIDUAL if person_hint else ClientKind.OTHER), value == ""


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file's millions of strings, lists and tuples are
    built (none of them in a cycle): otherwise every collection pass walks all that is alive, and
    reading 100k records took half as long again (measured: 1.5 s -> 1.0 s of CPU per file).

    On the way out, what was allocated meanwhile joins the oldest generation first: left young, the
    first allocation after re-enabling would walk all of it in one collection (0.17 s per 100k-record
    file). Not done when something else holds objects frozen (gc.freeze), whose choice stays as is."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _columns_from_csv(lines: Iterable[str], report: ReadReport) -> dict[str, list[str]]:
    reader = csv.reader(lines)
    header = [h.strip().lower() for h in next(reader, [])]
    width = len(header)
    rows = list(reader)
    ragged = [i for i, r in enumerate(rows) if len(r) != width]
    for i in ragged:
        if not any(x.strip() for x in rows[i]):
            rows[i] = [""] * width  # a blank line
            continue
        report.ragged_rows += 1
        rows[i] = (rows[i] + [""] * width)[:width]
    columns = list(zip(*rows, strict=True)) if rows else [()] * width
    del rows
    # All columns are copied while the parsed values still live: copies made as each column was let
    # go of filled the holes it left, as scattered as the values they replaced (measured: no gain).
    return {name: _in_column_order(columns[k]) for k, name in enumerate(header) if name}


def _in_column_order(values: tuple[str, ...]) -> list[str]:
    """The values as new strings made one after another. The parser makes them row by row, so the
    strings of one column lie far apart in memory, and every pass over a column (stripping, the
    memos, each normaliser, the blocking keys) waits on memory for each of them: joined into one
    string and split again, they lie together, and normalising 100k records took a third less CPU
    (2.1 -> 1.4 s; reading itself the same, its peak memory 43 MB higher, not the run's). Values
    holding JOIN could not be split back: those columns stay as they are."""
    joined = JOIN.join(values)
    if values and joined.count(JOIN) == len(values) - 1:
        return joined.split(JOIN)
    return list(values)


def _columns_from_json(text: str) -> dict[str, list[str]]:
    data = json.loads(text)
    if isinstance(data, dict):
        data = data.get("records", data.get("clients"))
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise CsvInputError("expected a JSON list of records (objects)")
    names = list(dict.fromkeys(k.strip().lower() for r in data for k in r))
    out: dict[str, list[str]] = {n: [] for n in names}
    for r in data:
        lowered = {k.strip().lower(): v for k, v in r.items()}
        for n in names:
            v = lowered.get(n)
            out[n].append("" if v is None else str(v))
    return out


@dataclass(slots=True)
class _Records:
    """The rows kept (an id, not seen before), column by column, stripped, with kinds and dates read."""

    col: dict[str, list[str]]
    names: list[str]  # the name column, or given and family names joined where it is empty
    kinds: list[ClientKind]
    dobs: list[date | None]


def _read_columns(lines: Iterable[str] | str, source: str, report: ReadReport, as_json: bool) -> dict[str, list[str]]:
    try:
        if as_json:
            text = lines if isinstance(lines, str) else "".join(lines)
            columns = _columns_from_json(text)
        else:
            columns = _columns_from_csv(lines.splitlines() if isinstance(lines, str) else lines, report)
    except json.JSONDecodeError as exc:
        raise CsvInputError(f"{source}: not JSON: {exc.msg} (line {exc.lineno})") from None
    except CsvInputError as exc:
        raise CsvInputError(f"{source}: {exc}") from None
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise CsvInputError(f"{source}: missing required column(s): {', '.join(missing)}")
    return columns


def _records(columns: dict[str, list[str]], report: ReadReport) -> _Records:
    """Rows kept, kinds inferred, dates parsed (once per distinct value) and what could not be read
    counted in `report`: column by column, no object per row."""
    n = len(columns["id"])
    empty = [""] * n
    col = {c: list(map(str.strip, columns[c])) if c in columns else empty for c in CLIENT_CSV_COLUMNS}
    del columns
    skipped: Counter[str] = Counter()
    ids = col["id"]
    distinct = set(ids)
    if len(distinct) != n or "" in distinct:  # rows without an id, or repeating one, are skipped
        keep, seen = [], set()
        for k, rid in enumerate(ids):
            if not rid:
                if any(col[c][k] for c in CLIENT_CSV_COLUMNS):
                    skipped["no id"] += 1
            elif rid in seen:
                skipped["repeated id"] += 1
            else:
                seen.add(rid)
                keep.append(k)
        col = {c: [values[k] for k in keep] for c, values in col.items()}
    unparsed: Counter[str] = Counter()
    given, family, dob_text = col["given_name"], col["family_name"], col["date_of_birth"]
    kinds, understood = [], 0
    kind_of: dict[tuple[str, bool], tuple[ClientKind, bool]] = {}
    for key in zip(col["kind"], map(any, zip(given, family, dob_text, strict=True)), strict=True):
        found = kind_of.get(key)
        if found is None:
            found = kind_of[key] = _kind_of(*key)
        kinds.append(found[0])
        understood += found[1]
    if understood < len(kinds):
        unparsed["kind"] = len(kinds) - understood
    dates = {text: parse_date(text) for text in set(dob_text) if text}
    dobs = list(map(dates.get, dob_text))
    bad_dates = {text for text, d in dates.items() if d is None}
    if bad_dates:
        unparsed["date_of_birth"] = sum(text in bad_dates for text in dob_text)
    bad_emails = {e for e in set(col["email"]) if e and not _EMAIL.match(e)}
    if bad_emails:
        unparsed["email"] = sum(e in bad_emails for e in col["email"])
    names = [name or " ".join(x for x in (g, f) if x) for name, g, f in zip(col["name"], given, family, strict=True)]
    report.records = len(col["id"])
    for name, count in unparsed.items():
        report.unparsed[name] = report.unparsed.get(name, 0) + count
    for name, count in skipped.items():
        report.skipped[name] = report.skipped.get(name, 0) + count
    return _Records(col, names, kinds, dobs)


def read_file(path: Path):
    """`read_raw_columns` of a CSV or JSON file (JSON: a .json name, or text starting with '[' or '{'),
    with its ReadReport. Raises CsvInputError, UnicodeDecodeError or csv.Error for a file that cannot
    be read at all (the commands say which)."""
    report = ReadReport()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        head = handle.read(1)
        handle.seek(0)
        if path.suffix.lower() == ".json" or head in ("[", "{"):
            return read_raw_columns(handle.read(), source=str(path), report=report, as_json=True), report
        return read_raw_columns(handle, source=str(path), report=report), report


def read_raw_columns(lines: Iterable[str] | str, source: str = "input", report: ReadReport | None = None,
                     *, as_json: bool = False):
    """The columns `features.raw_columns` gives for the profiles of these records, built from the file's
    columns without a profile per record (the stateless commands read large files, where those objects
    cost a third of the run's memory and a fifth of its time). A date of birth that is not a date
    keeps its digits as written (dob_digits)."""
    report = report if report is not None else ReadReport()
    with paused_gc():
        return _raw_columns(_records(_read_columns(lines, source, report, as_json), report))


def _raw_columns(r: _Records):
    from .features import KIND_CODES, RawColumns, dob_number

    col = r.col
    kinds = np.fromiter(map(KIND_CODES.__getitem__, r.kinds), dtype=np.int8, count=len(r.kinds))
    is_person = (kinds <= 1).tolist()
    people = [k for k, person in enumerate(is_person) if person]

    def opt(name: str) -> list[str | None]:
        return [v or None for v in col[name]]

    given, middle, family = opt("given_name"), opt("middle_name"), opt("family_name")
    dob_text = col["date_of_birth"]
    # Birth dates repeat: each distinct text is turned into a number once.
    dob_of = {text: dob_number(d, text) for text, d in dict(zip(dob_text, r.dobs, strict=True)).items()}
    return RawColumns(
        ids=col["id"], kinds=kinds,
        person_keys=[(r.names[k], given[k], middle[k], family[k]) for k in people],
        dobs=[dob_of[dob_text[k]] for k in people],
        org_names=[r.names[k] for k, person in enumerate(is_person) if not person],
        emails=opt("email"), phones=opt("phone"), mobiles=opt("mobile"), tax_numbers=opt("tax_number"),
        business_numbers=opt("business_number"), company_numbers=opt("company_number"),
        street_lines=list(zip(opt("address_line1"), opt("address_line2"), strict=True)),
        postcodes=opt("postcode"), cities=opt("city"),
    )
