"""XPM client, contact, relationship and group XML <-> the canonical profile.

Only translation lives here; no matching or sync decisions. Field facts: xpm_aps_xero.md §1.5-§1.6.
- The entity kind comes from `BusinessStructure` (practice-configured names, mapped through
  config/xpm.yaml), never from `Type` (that is the billing type).
- `TaxNumber` is masked on read (`******123`): it is kept as read but is never written.
- `Website` on read, `WebSite` on write.
- `Address`/`PostalAddress` are multi-line free text: line 1 is the first line, line 2 the rest joined
  with ", "; on write the two lines are joined with a newline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element

from adapters.errors import MalformedResponse
from adapters.xpm import xml
from syncworker.domain.profile import (
    Address,
    ClientGroup,
    ClientKind,
    ClientProfile,
    ClientStatus,
    ContactProfile,
    Relationship,
    flatten,
)
from syncworker.domain.serialize import relationship_to_dict

# Canonical field -> XPM write element. Everything else (tax_number above all, mobile, status, kind) is
# not writable through client.api/update.
WRITE_TAGS: dict[str, str] = {
    "name": "Name",
    "given_name": "FirstName",
    "middle_name": "MiddleName",
    "family_name": "LastName",
    "email": "Email",
    "phone": "Phone",
    "website": "WebSite",
    "address.city": "City",
    "address.region": "Region",
    "address.postcode": "PostCode",
    "address.country": "Country",
    "postal_address.city": "PostalCity",
    "postal_address.region": "PostalRegion",
    "postal_address.postcode": "PostalPostCode",
    "postal_address.country": "PostalCountry",
    "date_of_birth": "DateOfBirth",
    "business_number": "BusinessNumber",
    "company_number": "CompanyNumber",
}
ADDRESS_LINE_FIELDS = {
    "address": "Address",
    "postal_address": "PostalAddress",
}
WRITABLE_FIELDS: frozenset[str] = frozenset(WRITE_TAGS) | frozenset(
    f"{prefix}.{line}" for prefix in ADDRESS_LINE_FIELDS for line in ("line1", "line2")
)
NEVER_WRITTEN = frozenset({"tax_number"})


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


class BusinessStructures:
    """Practice-configured BusinessStructure names <-> canonical kinds."""

    def __init__(self, mapping: Mapping[str, ClientKind | str]) -> None:
        self._to_kind: dict[str, ClientKind] = {}
        self._to_name: dict[ClientKind, str] = {}
        for name, kind in mapping.items():
            k = ClientKind(kind)
            self._to_kind[_norm(name)] = k
            self._to_name.setdefault(k, name)  # the first name listed for a kind is the one written

    def kind_for(self, name: str | None) -> ClientKind | None:
        return self._to_kind.get(_norm(name)) if name else None

    def name_for(self, kind: ClientKind) -> str | None:
        return self._to_name.get(kind)


class RelationshipTypes:
    """XPM relationship type names <-> canonical types. Unlisted XPM names read as their snake_case."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self._to_canonical = {_norm(k): v for k, v in mapping.items()}
        self._to_xpm = {v: k for k, v in reversed(list(mapping.items()))}

    def canonical(self, xpm_name: str | None) -> str:
        if not xpm_name:
            return "unknown"
        return self._to_canonical.get(_norm(xpm_name)) or re.sub(r"\W+", "_", xpm_name.strip()).strip("_").lower()

    def xpm_name(self, canonical: str) -> str:
        name = self._to_xpm.get(canonical)
        if name is None:
            raise ValueError(f"relationship type {canonical!r} has no XPM equivalent (config/xpm.yaml relationship_types)")
        return name


# --- reading ---
def client_from_xml(
    el: Element, structures: BusinessStructures, *, detailed: bool, types: RelationshipTypes | None = None
) -> ClientProfile:
    uuid = xml.uuid_value(el, "UUID")
    name = xml.text(el, "Name")
    if not uuid:
        raise MalformedResponse("a <Client> without <UUID>")
    structure = xml.text(el, "BusinessStructure")
    given, family = xml.text(el, "FirstName"), xml.text(el, "LastName")
    kind = structures.kind_for(structure)
    if kind is None:
        # No (or an unmapped) BusinessStructure: XPM fills FirstName/LastName for individuals only.
        kind = ClientKind.INDIVIDUAL if structure is None and (given or family) else ClientKind.OTHER
    status = ClientStatus.ACTIVE
    if xml.yes_no(el, "IsDeleted"):
        status = ClientStatus.DELETED
    elif xml.yes_no(el, "IsArchived"):
        status = ClientStatus.ARCHIVED
    extra: dict[str, Any] = {"detailed": detailed}
    for key, tag in (
        ("business_structure", "BusinessStructure"), ("client_code", "ClientCode"), ("export_code", "ExportCode"),
        ("other_name", "OtherName"), ("title", "Title"), ("fax", "Fax"), ("referral_source", "ReferralSource"),
        ("web_url", "WebUrl"),
    ):
        value = xml.text(el, tag)
        if value is not None:
            extra[key] = value
    prospect = xml.yes_no(el, "IsProspect")
    if prospect is not None:
        extra["is_prospect"] = prospect
    billing_type = xml.text(el.find("Type"), "Name") if el.find("Type") is not None else None
    if billing_type:
        extra["billing_type"] = billing_type
    if detailed:
        # Detailed reads carry groups, relationships and contacts: kept, so nothing needs a read per client.
        groups = [(xml.uuid_value(x, "UUID"), xml.text(x, "Name")) for x in xml.items(el, "Groups", "Group")]
        extra["group_ids"] = [g for g, _ in groups if g]
        extra["groups"] = [{"id": g, "name": n or ""} for g, n in groups if g]
        if types is not None:
            extra["relationships"] = [
                relationship_to_dict(relationship_from_xml(r, uuid, types))
                for r in xml.items(el, "Relationships", "Relationship")
            ]
        extra["contact_ids"] = [c for c in (xml.uuid_value(x, "UUID") for x in xml.items(el, "Contacts", "Contact"))
                                if c]
    return ClientProfile(
        id=uuid,
        kind=kind,
        name=name or "",
        given_name=given,
        middle_name=xml.text(el, "MiddleName"),
        family_name=family,
        email=xml.text(el, "Email"),
        phone=xml.text(el, "Phone"),
        mobile=xml.text(el, "Mobile"),
        website=xml.text(el, "Website") or xml.text(el, "WebSite"),
        address=_address(el, ""),
        postal_address=_address(el, "Postal"),
        date_of_birth=xml.date_value(el, "DateOfBirth"),
        tax_number=xml.text(el, "TaxNumber"),  # masked by XPM; never written back
        business_number=xml.text(el, "BusinessNumber"),
        company_number=xml.text(el, "CompanyNumber"),
        status=status,
        extra=extra,
    )


def _address(el: Element, prefix: str) -> Address | None:
    street = xml.lines(el, f"{prefix}Address")
    addr = Address(
        line1=street[0] if street else None,
        line2=", ".join(street[1:]) or None,
        city=xml.text(el, f"{prefix}City"),
        region=xml.text(el, f"{prefix}Region"),
        postcode=xml.text(el, f"{prefix}PostCode"),
        country=xml.text(el, f"{prefix}Country"),
    )
    return None if addr.is_empty() else addr


def contact_from_xml(el: Element, *, client_id: str | None = None) -> ContactProfile:
    uuid = xml.uuid_value(el, "UUID") or ""
    client_ids = [c for c in (xml.uuid_value(x, "UUID") for x in xml.items(el, "Clients", "Client")) if c]
    if client_id and client_id not in client_ids:
        client_ids.insert(0, client_id)
    extra = {k: v for k, v in (("salutation", xml.text(el, "Salutation")), ("addressee", xml.text(el, "Addressee"))) if v}
    return ContactProfile(
        id=uuid,
        name=xml.text(el, "Name") or "",
        email=xml.text(el, "Email"),
        phone=xml.text(el, "Phone"),
        mobile=xml.text(el, "Mobile"),
        position=xml.text(el, "Position"),
        is_primary=bool(xml.yes_no(el, "IsPrimary")),
        client_ids=tuple(client_ids),
        deleted=bool(xml.yes_no(el, "IsDeleted")),
        extra=extra,
    )


def relationship_from_xml(el: Element, client_id: str, types: RelationshipTypes) -> Relationship:
    related = el.find("RelatedClient")
    related_id = xml.uuid_value(related, "UUID") if related is not None else xml.uuid_value(el, "RelatedClientUUID")
    return Relationship(
        id=xml.uuid_value(el, "UUID"),
        client_id=client_id.lower(),
        related_client_id=related_id or "",
        type=types.canonical(xml.text(el, "Type")),
        start_date=xml.date_value(el, "StartDate"),
        end_date=xml.date_value(el, "EndDate"),
        number_of_shares=xml.int_value(el, "NumberOfShares"),
        percentage=xml.float_value(el, "Percentage"),
    )


def group_from_xml(el: Element) -> ClientGroup:
    members = [m for m in (xml.uuid_value(c, "UUID") for c in xml.items(el, "Clients", "Client")) if m]
    return ClientGroup(
        id=xml.uuid_value(el, "UUID"),
        name=xml.text(el, "Name") or "",
        member_ids=tuple(members),
        taxable=xml.yes_no(el, "Taxable"),
    )


# --- writing ---
def client_fields_to_xml(
    changes: Mapping[str, Any], *, uuid: str | None = None, business_structure: str | None = None
) -> Element:
    """`<Client>` carrying exactly the given canonical fields (flattened names). Address line 1 and 2 share
    one XPM element, so both must be present when either is (see `XpmClient.update_client`)."""
    not_writable = set(changes) - WRITABLE_FIELDS
    if not_writable:
        raise ValueError(f"not writable to XPM: {', '.join(sorted(not_writable))}")
    fields: list[tuple[str, str | None]] = []
    if uuid:
        fields.append(("UUID", uuid))
    for canonical, tag in WRITE_TAGS.items():
        if canonical in changes:
            fields.append((tag, _wire(changes[canonical])))
    for prefix, tag in ADDRESS_LINE_FIELDS.items():
        if f"{prefix}.line1" in changes or f"{prefix}.line2" in changes:
            parts = [_wire(changes.get(f"{prefix}.line1")), _wire(changes.get(f"{prefix}.line2"))]
            fields.append((tag, "\n".join(p for p in parts if p) or None))
    if business_structure:
        fields.append(("BusinessStructure", business_structure))
    return xml.element("Client", fields)


def _wire(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]  # dates: yyyy-MM-dd
    text = str(value).strip()
    return text or None


def profile_write_fields(profile: ClientProfile) -> dict[str, Any]:
    """The writable, non-empty canonical fields of a profile (for `client.api/add`)."""
    flat = flatten(profile)
    return {k: v for k, v in flat.items() if k in WRITABLE_FIELDS and v not in (None, "")}


def relationship_to_xml(rel: Relationship, types: RelationshipTypes) -> Element:
    fields: list[tuple[str, str | None]] = [
        ("ClientUUID", rel.client_id),
        ("RelatedClientUUID", rel.related_client_id),
        ("Type", types.xpm_name(rel.type)),
    ]
    if rel.number_of_shares is not None:
        fields.append(("NumberOfShares", str(rel.number_of_shares)))
    if rel.percentage is not None:
        fields.append(("Percentage", f"{rel.percentage:g}"))
    if rel.start_date is not None:
        fields.append(("StartDate", rel.start_date.isoformat()))
    if rel.end_date is not None:
        fields.append(("EndDate", rel.end_date.isoformat()))
    return xml.element("Relationship", fields)
