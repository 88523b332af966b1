"""A tolerant reader of the canonical client CSV schema for the stateless match/dedupe commands."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date, datetime

from syncworker.domain.profile import CLIENT_CSV_COLUMNS, Address, ClientKind, ClientProfile

REQUIRED = ("id", "kind", "name")
_KIND_ALIASES = {"person": "individual", "sole trader": "sole_trader", "soletrader": "sole_trader",
                 "organisation": "other", "organization": "other"}
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%Y%m%d", "%d-%m-%Y")


class CsvInputError(ValueError):
    """A row of the input file cannot be read; the message names the line and the reason."""


def _parse_date(text: str, line: int) -> date | None:
    text = text.strip()
    if not text:
        return None
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise CsvInputError(f"line {line}: date_of_birth {text!r} is not a date (use YYYY-MM-DD)")


def _kind(text: str, line: int) -> ClientKind:
    value = text.strip().lower()
    value = _KIND_ALIASES.get(value, value)
    try:
        return ClientKind(value)
    except ValueError:
        allowed = ", ".join(k.value for k in ClientKind)
        raise CsvInputError(f"line {line}: kind {text!r} is not one of {allowed}") from None


def read_profiles(lines: Iterable[str], source: str = "input") -> list[ClientProfile]:
    """ClientProfiles from canonical CSV text; unknown columns are ignored, missing optional ones are empty."""
    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CsvInputError(f"{source}: line 1: missing required column(s): {', '.join(missing)}")
    profiles: list[ClientProfile] = []
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        if None in row:
            raise CsvInputError(f"{source}: line {line}: more fields than the header has columns")
        values = {c: (row.get(c) or "").strip() for c in CLIENT_CSV_COLUMNS}
        try:
            for column in REQUIRED:
                if not values[column]:
                    raise CsvInputError(f"line {line}: {column} is empty")
            if values["id"] in seen:
                raise CsvInputError(f"line {line}: duplicate id {values['id']!r}")
            seen.add(values["id"])
            address = Address(
                values["address_line1"] or None, values["address_line2"] or None, values["city"] or None,
                values["region"] or None, values["postcode"] or None, values["country"] or None,
            )
            profiles.append(ClientProfile(
                id=values["id"], kind=_kind(values["kind"], line), name=values["name"],
                given_name=values["given_name"] or None, middle_name=values["middle_name"] or None,
                family_name=values["family_name"] or None, email=values["email"] or None,
                phone=values["phone"] or None, mobile=values["mobile"] or None,
                address=None if address.is_empty() else address,
                date_of_birth=_parse_date(values["date_of_birth"], line),
                tax_number=values["tax_number"] or None, business_number=values["business_number"] or None,
                company_number=values["company_number"] or None,
            ))
        except CsvInputError as exc:
            raise CsvInputError(f"{source}: {exc}") from None
    return profiles
