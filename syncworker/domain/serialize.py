"""Canonical profiles to and from JSON-ready dicts, and a content hash that ignores bookkeeping, so a
record whose content did not change hashes the same on every pull."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from syncworker.domain.profile import Address, ClientKind, ClientProfile, ClientStatus, Relationship

_NOT_CONTENT = ("modified_at", "extra")


def profile_to_dict(p: ClientProfile) -> dict[str, Any]:
    d = asdict(p)
    d["kind"] = p.kind.value
    d["status"] = p.status.value
    d["date_of_birth"] = p.date_of_birth.isoformat() if p.date_of_birth else None
    d["modified_at"] = p.modified_at.isoformat() if p.modified_at else None
    d["extra"] = {k: v for k, v in p.extra.items() if _jsonable(v)}
    return d


def profile_from_dict(d: dict[str, Any]) -> ClientProfile:
    def addr(v: dict[str, Any] | None) -> Address | None:
        return Address(**v) if v else None

    return ClientProfile(
        id=d["id"], kind=ClientKind(d["kind"]), name=d["name"], given_name=d.get("given_name"),
        middle_name=d.get("middle_name"), family_name=d.get("family_name"), email=d.get("email"),
        phone=d.get("phone"), mobile=d.get("mobile"), website=d.get("website"), address=addr(d.get("address")),
        postal_address=addr(d.get("postal_address")),
        date_of_birth=date.fromisoformat(d["date_of_birth"]) if d.get("date_of_birth") else None,
        tax_number=d.get("tax_number"), business_number=d.get("business_number"),
        company_number=d.get("company_number"), status=ClientStatus(d.get("status") or "active"),
        modified_at=datetime.fromisoformat(d["modified_at"]) if d.get("modified_at") else None,
        extra=dict(d.get("extra") or {}),
    )


def relationship_to_dict(r: Relationship) -> dict[str, Any]:
    d = asdict(r)
    for k in ("start_date", "end_date"):
        d[k] = d[k].isoformat() if isinstance(d[k], date) else d[k]
    return d


def relationship_from_dict(d: dict[str, Any]) -> Relationship:
    def day(v: Any) -> date | None:
        return date.fromisoformat(v) if isinstance(v, str) and v else None

    return Relationship(
        id=d.get("id"), client_id=d["client_id"], related_client_id=d["related_client_id"], type=d["type"],
        description=d.get("description"), start_date=day(d.get("start_date")), end_date=day(d.get("end_date")),
        number_of_shares=d.get("number_of_shares"), percentage=d.get("percentage"),
    )


def content_hash(d: dict[str, Any]) -> str:
    content = {k: v for k, v in d.items() if k not in _NOT_CONTENT}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True
