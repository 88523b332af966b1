"""The canonical client profile that every system is translated into and out of.

Adapters map their wire format to these types; the domain (matching, links, sync) only ever sees
these. Field names match the canonical CSV schema shared by every command.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class ClientKind(StrEnum):
    INDIVIDUAL = "individual"
    COMPANY = "company"
    TRUST = "trust"
    PARTNERSHIP = "partnership"
    SOLE_TRADER = "sole_trader"
    OTHER = "other"

    @property
    def is_person(self) -> bool:
        # A sole trader is a person trading under their own name: matched with the person rules.
        return self in (ClientKind.INDIVIDUAL, ClientKind.SOLE_TRADER)


class ClientStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    ARCHIVED = "archived"
    DELETED = "deleted"  # only ever seen on remote records (XPM IsDeleted)


# The canonical CSV schema, in column order. `id`, `kind` and `name` are required.
CLIENT_CSV_COLUMNS: tuple[str, ...] = (
    "id", "kind", "name", "given_name", "middle_name", "family_name", "email", "phone", "mobile",
    "address_line1", "address_line2", "city", "region", "postcode", "country", "date_of_birth",
    "tax_number", "business_number", "company_number",
)
CONTACT_CSV_COLUMNS: tuple[str, ...] = (
    "id", "client_id", "name", "given_name", "family_name", "email", "phone", "mobile", "position",
    "is_primary",
)


@dataclass(frozen=True, slots=True)
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postcode: str | None = None
    country: str | None = None

    def is_empty(self) -> bool:
        return not any((self.line1, self.line2, self.city, self.region, self.postcode, self.country))


@dataclass(slots=True)
class ClientProfile:
    """One client as any system sees it. `id` is the id in the system the profile came from."""

    id: str
    kind: ClientKind
    name: str
    given_name: str | None = None
    middle_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    website: str | None = None
    address: Address | None = None  # street address
    postal_address: Address | None = None
    date_of_birth: date | None = None
    tax_number: str | None = None  # may be masked on read, e.g. "******123" from XPM
    business_number: str | None = None
    company_number: str | None = None
    status: ClientStatus = ClientStatus.ACTIVE
    modified_at: datetime | None = None  # remote last-modified time (UTC) where the system gives one
    extra: dict[str, Any] = field(default_factory=dict)  # system-specific values kept for round trips

    def with_changes(self, **changes: Any) -> ClientProfile:
        return replace(self, **changes)

    @property
    def is_person(self) -> bool:
        return self.kind.is_person


# Fields the sync engine compares and writes, by canonical name. Address fields are flattened with
# an `address.` / `postal_address.` prefix so per-field rules can name them.
SYNCABLE_FIELDS: tuple[str, ...] = (
    "name", "given_name", "middle_name", "family_name", "email", "phone", "mobile", "website",
    "address.line1", "address.line2", "address.city", "address.region", "address.postcode", "address.country",
    "postal_address.line1", "postal_address.line2", "postal_address.city", "postal_address.region",
    "postal_address.postcode", "postal_address.country",
    "date_of_birth", "tax_number", "business_number", "company_number", "status",
)


def flatten(profile: ClientProfile) -> dict[str, Any]:
    """The profile as {canonical field name: value}, addresses flattened, for per-field sync."""
    out: dict[str, Any] = {}
    for f in fields(profile):
        value = getattr(profile, f.name)
        if f.name in ("address", "postal_address"):
            addr = value or Address()
            for af in fields(Address):
                out[f"{f.name}.{af.name}"] = getattr(addr, af.name)
        elif f.name not in ("id", "extra", "modified_at", "kind"):
            out[f.name] = value
    return out


@dataclass(slots=True)
class ContactProfile:
    """A person attached to one or more clients (XPM contacts are shared across clients)."""

    id: str
    name: str
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    position: str | None = None
    is_primary: bool = False
    client_ids: tuple[str, ...] = ()
    deleted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Relationship:
    """A client-to-client relationship as a system stores it (one direction)."""

    id: str | None
    client_id: str
    related_client_id: str
    type: str  # canonical relationship type (see config/relationships.yaml)
    description: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    number_of_shares: int | None = None
    percentage: float | None = None


@dataclass(slots=True)
class ClientGroup:
    id: str | None
    name: str
    member_ids: tuple[str, ...] = ()
    taxable: bool | None = None
