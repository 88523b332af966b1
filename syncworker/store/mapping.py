"""Between canonical profiles (domain) and rows (store)."""

from __future__ import annotations

from typing import Any

from syncworker.domain.profile import Address, ClientKind, ClientProfile, ClientStatus, ContactProfile
from syncworker.store.models import Client, Contact

_ADDRESS_PARTS = ("line1", "line2", "city", "region", "postcode", "country")


def client_columns(p: ClientProfile) -> dict[str, Any]:
    """Column values for a local client row from a profile (without ids, tenant or version)."""
    cols: dict[str, Any] = {
        "kind": p.kind.value, "display_name": p.name, "given_name": p.given_name, "middle_name": p.middle_name,
        "family_name": p.family_name, "email": p.email, "phone": p.phone, "mobile": p.mobile, "website": p.website,
        "date_of_birth": p.date_of_birth, "tax_number": p.tax_number, "business_number": p.business_number,
        "company_number": p.company_number,
        "status": p.status.value if p.status != ClientStatus.DELETED else ClientStatus.ARCHIVED.value,
    }
    for prefix, addr in (("street", p.address), ("postal", p.postal_address)):
        for part in _ADDRESS_PARTS:
            cols[f"{prefix}_{part}"] = getattr(addr, part) if addr else None
    return cols


def derived_columns(model: type, cols: dict[str, Any]) -> dict[str, Any]:
    """Columns a bulk insert must set itself (it bypasses the ORM events): a client's tax number hash, given
    as the plain value (`KeyedHash` hashes it on the way in)."""
    return {"tax_number_hash": cols.get("tax_number")} if model is Client else {}


def client_profile(row: Client) -> ClientProfile:
    def address(prefix: str) -> Address | None:
        addr = Address(*(getattr(row, f"{prefix}_{part}") for part in _ADDRESS_PARTS))
        return None if addr.is_empty() else addr

    return ClientProfile(
        id=row.external_id, kind=ClientKind(row.kind), name=row.display_name, given_name=row.given_name,
        middle_name=row.middle_name, family_name=row.family_name, email=row.email, phone=row.phone,
        mobile=row.mobile, website=row.website, address=address("street"), postal_address=address("postal"),
        date_of_birth=row.date_of_birth, tax_number=row.tax_number, business_number=row.business_number,
        company_number=row.company_number, status=ClientStatus(row.status), modified_at=row.updated_at,
        extra={"local_pk": row.id, "version": row.version},
    )


def contact_columns(c: ContactProfile) -> dict[str, Any]:
    return {
        "name": c.name, "given_name": c.given_name, "family_name": c.family_name, "email": c.email,
        "phone": c.phone, "mobile": c.mobile, "position": c.position, "is_primary": c.is_primary,
    }


def contact_profile(row: Contact, client_external_id: str) -> ContactProfile:
    return ContactProfile(
        id=row.external_id, name=row.name, given_name=row.given_name, family_name=row.family_name,
        email=row.email, phone=row.phone, mobile=row.mobile, position=row.position, is_primary=row.is_primary,
        client_ids=(client_external_id,), extra={"local_pk": row.id},
    )


def json_ready(values: dict[str, Any]) -> dict[str, Any]:
    """Values safe to store in a JSON column (dates as ISO strings)."""
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()}
