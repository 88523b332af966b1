"""Validation of canonical CSV/JSON rows into profiles. Pure: the importer and the stateless commands
share it. Each problem is reported with the column it concerns, so an operator can fix the file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from syncworker.domain.profile import (
    CLIENT_CSV_COLUMNS,
    CONTACT_CSV_COLUMNS,
    Address,
    ClientKind,
    ClientProfile,
    ContactProfile,
)

REQUIRED_CLIENT_COLUMNS = ("id", "kind", "name")
REQUIRED_CONTACT_COLUMNS = ("id", "client_id", "name")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_KIND_ALIASES = {k.value: k for k in ClientKind} | {
    "sole trader": ClientKind.SOLE_TRADER, "sole-trader": ClientKind.SOLE_TRADER, "person": ClientKind.INDIVIDUAL,
}
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}
# The columns' sizes in the database (store/models.py; a test keeps the two in step): a longer value is a
# bad row here, not a database error (PostgreSQL refuses it, SQLite would store it) later.
MAX_LENGTHS = {"id": 100, "client_id": 100, "name": 300, "email": 320, "given_name": 100, "middle_name": 100,
               "family_name": 100, "phone": 50, "mobile": 50, "address_line1": 200, "address_line2": 200,
               "city": 100, "region": 100, "postcode": 20, "country": 100, "tax_number": 30,
               "business_number": 30, "company_number": 30, "position": 100}
MIN_BIRTH_YEAR = 1850
# NUL and the other C0/C1 control characters never belong in a field (PostgreSQL refuses NUL outright);
# tab, line feed and carriage return inside a value are folded to spaces by `_clean`.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_FOLDED = re.compile(r"[\t\r\n]+")


@dataclass(frozen=True, slots=True)
class RowProblem:
    column: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.column}: {self.message}" if self.column else self.message


class RowInvalid(ValueError):
    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def check_columns(columns: list[str], *, contacts: bool = False) -> list[str]:
    """Problems with a header: missing required columns, unknown or repeated ones."""
    known = CONTACT_CSV_COLUMNS if contacts else CLIENT_CSV_COLUMNS
    required = REQUIRED_CONTACT_COLUMNS if contacts else REQUIRED_CLIENT_COLUMNS
    problems = []
    missing = [c for c in required if c not in columns]
    if missing:
        problems.append(f"missing required column(s): {', '.join(missing)}")
    unknown = [c for c in columns if c not in known]
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)} (expected: {', '.join(known)})")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        problems.append(f"repeated column(s): {', '.join(repeated)}")
    return problems


def _clean(row: Mapping[str, object], column: str) -> str | None:
    value = row.get(column)
    if value is None:
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise TypeError  # a list or an object in a JSON file: reported by `_common`
    text = _FOLDED.sub(" ", str(value)).strip()
    return text or None


def _common(row: Mapping[str, object], problems: list[RowProblem], columns: tuple[str, ...]) -> dict[str, str | None]:
    """Problems never quote the value: they end up in run records and logs, and values are client data."""
    values: dict[str, str | None] = {}
    for c in columns:
        try:
            values[c] = _clean(row, c)
        except TypeError:
            values[c] = None
            problems.append(RowProblem(c, "must be text, not a list or an object"))
    for column, v in values.items():
        if v is not None and _CONTROL.search(v):
            problems.append(RowProblem(column, "contains a control character (NUL or similar)"))
    for column, limit in MAX_LENGTHS.items():
        v = values.get(column)
        if v is not None and len(v) > limit:
            problems.append(RowProblem(column, f"longer than {limit} characters"))
    email = values.get("email")
    if email and not _EMAIL.match(email):
        problems.append(RowProblem("email", "is not an email address"))
    for column in ("phone", "mobile"):
        v = values.get(column)
        if v and not any(ch.isdigit() for ch in v):
            problems.append(RowProblem(column, "has no digits"))
    return values


def parse_client_row(row: Mapping[str, object], *, today: date | None = None) -> ClientProfile:
    problems: list[RowProblem] = []
    v = _common(row, problems, CLIENT_CSV_COLUMNS)
    for column in REQUIRED_CLIENT_COLUMNS:
        if not v[column]:
            problems.append(RowProblem(column, "is required"))
    kind = None
    if v["kind"]:
        kind = _KIND_ALIASES.get(v["kind"].lower())
        if kind is None:
            problems.append(RowProblem("kind", f"{v['kind'][:30]!r} is not one of {', '.join(k.value for k in ClientKind)}"))
    dob = None
    if v["date_of_birth"]:
        try:
            dob = date.fromisoformat(v["date_of_birth"])
        except ValueError:
            problems.append(RowProblem("date_of_birth", "is not an ISO 8601 date (YYYY-MM-DD)"))
        else:
            if dob > (today or date.today()):
                problems.append(RowProblem("date_of_birth", "is in the future"))
            elif dob.year < MIN_BIRTH_YEAR:
                problems.append(RowProblem("date_of_birth", f"is before {MIN_BIRTH_YEAR}"))
    if problems:
        raise RowInvalid(problems)
    assert kind is not None and v["id"] and v["name"]
    address = Address(v["address_line1"], v["address_line2"], v["city"], v["region"], v["postcode"], v["country"])
    return ClientProfile(
        id=v["id"], kind=kind, name=v["name"], given_name=v["given_name"], middle_name=v["middle_name"],
        family_name=v["family_name"], email=v["email"].lower() if v["email"] else None, phone=v["phone"],
        mobile=v["mobile"], address=None if address.is_empty() else address, date_of_birth=dob,
        tax_number=v["tax_number"], business_number=v["business_number"], company_number=v["company_number"],
    )


def parse_contact_row(row: Mapping[str, object]) -> ContactProfile:
    problems: list[RowProblem] = []
    v = _common(row, problems, CONTACT_CSV_COLUMNS)
    for column in REQUIRED_CONTACT_COLUMNS:
        if not v[column]:
            problems.append(RowProblem(column, "is required"))
    raw_primary = (v["is_primary"] or "").lower()
    if raw_primary not in _TRUE | _FALSE:
        problems.append(RowProblem("is_primary", f"{v['is_primary'][:10]!r} is not true/false"))
    if problems:
        raise RowInvalid(problems)
    assert v["id"] and v["name"] and v["client_id"]
    return ContactProfile(
        id=v["id"], name=v["name"], given_name=v["given_name"], family_name=v["family_name"],
        email=v["email"].lower() if v["email"] else None, phone=v["phone"], mobile=v["mobile"],
        position=v["position"], is_primary=raw_primary in _TRUE, client_ids=(v["client_id"],),
    )
