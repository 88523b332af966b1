"""A tolerant reader of canonical client files (CSV or JSON) for the stateless match/dedupe commands.

Matching reads what people actually keep: a malformed value is data, not an error. A date of birth
that is not a date ('1853-01-81') keeps its raw text in `extra[RAW_DOB]` (the engine compares its
digits, so a typo still lands near the right date), an unknown kind is inferred, and every such
value is counted per column in `ReadReport.unparsed`. A file is refused only when it cannot be read
as CSV/JSON at all, or lacks the `id` or `name` column. Rows without an id, or repeating an earlier
id, cannot be reported on and are skipped, and counted. (Imports into the database stay strict:
syncworker/domain/rows.py.)

The CSV is read column by column (one list per column, dates through `date.fromisoformat` once per
distinct value), not as a dict per row.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from syncworker.domain.profile import CLIENT_CSV_COLUMNS, Address, ClientKind, ClientProfile

REQUIRED = ("id", "name")
RAW_DOB = "date_of_birth_raw"  # ClientProfile.extra key: a date of birth kept as written
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
    return {name: list(columns[k]) for k, name in enumerate(header) if name}


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


def read_profiles(lines: Iterable[str] | str, source: str = "input", report: ReadReport | None = None,
                  *, as_json: bool = False) -> list[ClientProfile]:
    """ClientProfiles from canonical CSV (or JSON) text; unknown columns are ignored, missing optional
    ones are empty. What could not be parsed is counted in `report` (see the module docstring)."""
    report = report if report is not None else ReadReport()
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
    n = len(columns["id"])
    empty = [""] * n
    col = {c: [v.strip() for v in columns[c]] if c in columns else empty for c in CLIENT_CSV_COLUMNS}
    unparsed: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    dates: dict[str, date | None] = {}
    profiles: list[ClientProfile] = []
    seen: set[str] = set()
    for k in range(n):
        rid = col["id"][k]
        if not rid:
            if any(col[c][k] for c in CLIENT_CSV_COLUMNS):
                skipped["no id"] += 1
            continue
        if rid in seen:
            skipped["repeated id"] += 1
            continue
        seen.add(rid)
        given, family, dob_text = col["given_name"][k], col["family_name"][k], col["date_of_birth"][k]
        kind, understood = _kind_of(col["kind"][k], bool(given or family or dob_text))
        if not understood:
            unparsed["kind"] += 1
        extra: dict[str, Any] = {}
        dob = None
        if dob_text:
            if dob_text in dates:
                dob = dates[dob_text]
            else:
                dob = dates[dob_text] = parse_date(dob_text)
            if dob is None:
                unparsed["date_of_birth"] += 1
                extra[RAW_DOB] = dob_text
        email = col["email"][k]
        if email and not _EMAIL.match(email):
            unparsed["email"] += 1
        address = Address(
            col["address_line1"][k] or None, col["address_line2"][k] or None, col["city"][k] or None,
            col["region"][k] or None, col["postcode"][k] or None, col["country"][k] or None,
        )
        profiles.append(ClientProfile(
            id=rid, kind=kind, name=col["name"][k] or " ".join(x for x in (given, family) if x),
            given_name=given or None, middle_name=col["middle_name"][k] or None,
            family_name=family or None, email=email or None,
            phone=col["phone"][k] or None, mobile=col["mobile"][k] or None,
            address=None if address.is_empty() else address, date_of_birth=dob,
            tax_number=col["tax_number"][k] or None, business_number=col["business_number"][k] or None,
            company_number=col["company_number"][k] or None, extra=extra,
        ))
    report.records = len(profiles)
    for name, count in unparsed.items():
        report.unparsed[name] = report.unparsed.get(name, 0) + count
    for name, count in skipped.items():
        report.skipped[name] = report.skipped.get(name, 0) + count
    return profiles
