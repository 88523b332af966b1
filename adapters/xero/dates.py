"""Xero's date formats: `/Date(1573755038314+0000)/` in JSON bodies, ISO seconds with `Z` in If-Modified-Since."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_MS_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?P<sign>[+-])?(?P<hh>\d{2})?(?P<mm>\d{2})?\)/$")


def parse_ms_date(value: str | None) -> datetime | None:
    """`/Date(ms±hhmm)/` -> aware UTC datetime. The milliseconds are already UTC; the offset only says which
    zone the value was entered in, so it does not shift the instant. Also accepts ISO strings, which a few
    Xero endpoints return instead."""
    if not value:
        return None
    m = _MS_DATE.match(value.strip())
    if m:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(m["ms"]))
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"not a Xero date: {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def format_ms_date(value: datetime) -> str:
    """Aware (or naive UTC) datetime -> `/Date(ms+0000)/`."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    ms = (aware - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    return f"/Date({ms}+0000)/"


def format_if_modified_since(value: datetime) -> str:
    """If-Modified-Since as Xero documents it (`yyyy-mm-ddThh:mm:ss`, UTC) plus an explicit `Z`: a value
    without a zone is open to being read in the organisation's or the server's time zone, which would move
    the window by hours (the SDKs' issue trackers show both readings). Sub-second precision is dropped by
    truncating, so the window only ever widens (at-least-once)."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%SZ")
