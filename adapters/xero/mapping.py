"""Xero accounting Contact JSON <-> canonical ClientProfile.

Xero quirks handled here: every contact carries all four phone types and both address types, empty ones
included; phone numbers are split into country/area/number; there is no entity kind, so it is inferred
(and the inference is marked in `extra`); `ContactNumber` is ours to set and holds the link key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from xero_python.accounting import Address as XeroAddress
from xero_python.accounting import Contact, Phone

from adapters.xero.dates import parse_ms_date
from syncworker.domain.profile import Address, ClientKind, ClientProfile, ClientStatus

LINK_KEY_MAX = 50  # ContactNumber max length (Xero docs)
_LINK_KEY_OK = re.compile(r"^[A-Za-z0-9_.:\-/]+$")  # safe to quote inside a `where` filter

_STATUS_FROM_XERO = {"ACTIVE": ClientStatus.ACTIVE, "ARCHIVED": ClientStatus.ARCHIVED,
                     "GDPRREQUEST": ClientStatus.ARCHIVED}
_STATUS_TO_XERO = {ClientStatus.ACTIVE: "ACTIVE", ClientStatus.INACTIVE: "ARCHIVED",
                   ClientStatus.ARCHIVED: "ARCHIVED"}

# canonical field -> xero-python Contact attribute
_SCALARS = {"name": "name", "given_name": "first_name", "family_name": "last_name", "email": "email_address",
            "tax_number": "tax_number", "company_number": "company_number"}
_PHONES = {"phone": "DEFAULT", "mobile": "MOBILE"}
_ADDRESSES = {"address": "STREET", "postal_address": "POBOX"}
# canonical address part -> xero-python Address attribute
_ADDRESS_PARTS = {"line1": "address_line1", "line2": "address_line2", "city": "city", "region": "region",
                  "postcode": "postal_code", "country": "country"}

WRITABLE_FIELDS: frozenset[str] = frozenset(
    [*_SCALARS, *_PHONES, "status"]
    + [f"{prefix}.{part}" for prefix in _ADDRESSES for part in _ADDRESS_PARTS]
)

# Words that mark an organisation name; any of them vetoes "person".
_ORG_WORDS = re.compile(
    r"\b(pty|ltd|limited|inc|llc|llp|plc|corp|co|company|group|holdings|trust|trustee|fund|partners|"
    r"partnership|associates|services|solutions|consulting|enterprises|industries|the|and|superannuation|"
    r"smsf|foundation|club|council|society|bank|store|shop|studio)\b|&|\d",
    re.IGNORECASE,
)


# --- link key ---------------------------------------------------------------------------------------------

def check_link_key(key: str) -> str:
    """Validate a link key for ContactNumber: at most 50 chars, and only characters that need no escaping
    in a `where` filter (we mint these keys, so a strict alphabet costs nothing)."""
    if not key or len(key) > LINK_KEY_MAX or not _LINK_KEY_OK.match(key):
        raise ValueError(f"link key must be 1-{LINK_KEY_MAX} chars of [A-Za-z0-9_.:-/], got {key!r}")
    return key


def link_key_of(profile: ClientProfile) -> str | None:
    """The link key stored in the contact's ContactNumber, if any."""
    return profile.extra.get("contact_number") or None


def with_link_key(profile: ClientProfile, key: str) -> ClientProfile:
    """A copy of `profile` that will carry `key` in ContactNumber when created or written."""
    return profile.with_changes(extra={**profile.extra, "contact_number": check_link_key(key)})


# --- read -------------------------------------------------------------------------------------------------

def _blank_to_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _phone_text(phone: Mapping[str, Any]) -> str | None:
    parts = (phone.get("PhoneCountryCode"), phone.get("PhoneAreaCode"), phone.get("PhoneNumber"))
    if not _blank_to_none(phone.get("PhoneNumber")):
        return None  # an area code alone is not a number
    return " ".join(p.strip() for p in parts if _blank_to_none(p))


def _by_type(items: Any, type_key: str) -> dict[str, Mapping[str, Any]]:
    return {str(i.get(type_key, "")).upper(): i for i in (items or []) if isinstance(i, Mapping)}


def _address(raw: Mapping[str, Any] | None) -> Address | None:
    if raw is None:
        return None
    lines = [_blank_to_none(raw.get(f"AddressLine{n}")) for n in (1, 2, 3, 4)]
    line2 = ", ".join(x for x in lines[1:] if x) or None  # canonical has two lines; keep lines 2-4 joined
    addr = Address(line1=lines[0], line2=line2, city=_blank_to_none(raw.get("City")),
                   region=_blank_to_none(raw.get("Region")), postcode=_blank_to_none(raw.get("PostalCode")),
                   country=_blank_to_none(raw.get("Country")))
    return None if addr.is_empty() else addr


def _squash(text: str) -> str:
    return re.sub(r"[^a-z]+", " ", text.lower()).strip()


def infer_kind(name: str, first: str | None, last: str | None) -> tuple[ClientKind, str]:
    """Xero contacts have no kind. Say "individual" only when the name is exactly the person's names (either
    order) and nothing in it looks like an organisation; otherwise "company". Returns (kind, basis)."""
    if not (first or last):
        return ClientKind.COMPANY, "no first/last name"
    if _ORG_WORDS.search(name):
        return ClientKind.COMPANY, "organisation word in name"
    given, family = _squash(first or ""), _squash(last or "")
    squashed = _squash(name)
    candidates = {f"{given} {family}".strip(), f"{family} {given}".strip()}
    if squashed in candidates:
        return ClientKind.INDIVIDUAL, "name equals first and last name"
    return ClientKind.COMPANY, "first/last name present but name differs"


def profile_from_contact(raw: Mapping[str, Any]) -> ClientProfile:
    """One Contact object from Xero's JSON -> canonical profile. Values Xero has but the profile doesn't are
    kept in `extra` (ContactNumber, IsSupplier/IsCustomer, fax, raw status, kind inference)."""
    contact_id = raw.get("ContactID")
    if not contact_id or raw.get("Name") is None:
        raise ValueError("contact without ContactID or Name")
    name = str(raw["Name"]).strip()
    first, last = _blank_to_none(raw.get("FirstName")), _blank_to_none(raw.get("LastName"))
    kind, basis = infer_kind(name, first, last)
    phones = _by_type(raw.get("Phones"), "PhoneType")
    addresses = _by_type(raw.get("Addresses"), "AddressType")
    xero_status = str(raw.get("ContactStatus") or "ACTIVE").upper()
    extra: dict[str, Any] = {
        "kind_inferred": True,
        "kind_basis": basis,
        "contact_status": xero_status,
        "is_supplier": bool(raw.get("IsSupplier", False)),
        "is_customer": bool(raw.get("IsCustomer", False)),
    }
    for key, xero_key in (("contact_number", "ContactNumber"), ("account_number", "AccountNumber"),
                          ("merged_to_contact_id", "MergedToContactID")):
        if _blank_to_none(raw.get(xero_key)):
            extra[key] = str(raw[xero_key]).strip()
    if (fax := _phone_text(phones.get("FAX", {}))) is not None:
        extra["fax"] = fax
    return ClientProfile(
        id=str(contact_id),
        kind=kind,
        name=name,
        given_name=first,
        family_name=last,
        email=_blank_to_none(raw.get("EmailAddress")),
        phone=_phone_text(phones.get("DEFAULT", {})),
        mobile=_phone_text(phones.get("MOBILE", {})),
        website=_blank_to_none(raw.get("Website")),
        address=_address(addresses.get("STREET")),
        postal_address=_address(addresses.get("POBOX")),
        tax_number=_blank_to_none(raw.get("TaxNumber")),
        company_number=_blank_to_none(raw.get("CompanyNumber")),
        status=_STATUS_FROM_XERO.get(xero_status, ClientStatus.ACTIVE),
        modified_at=parse_ms_date(raw.get("UpdatedDateUTC")),
        extra=extra,
    )


# --- write ------------------------------------------------------------------------------------------------

def _text(value: Any) -> str:
    # Xero clears a field given "", and leaves it alone when the key is absent.
    return "" if value is None else str(value)


def contact_for_create(profile: ClientProfile) -> Contact:
    """A new contact from a canonical profile; empty fields are omitted."""
    changes = {k: v for k, v in _flat_writable(profile).items() if v not in (None, "")}
    contact = contact_for_update(changes, current=None)
    if key := link_key_of(profile):
        contact.contact_number = check_link_key(key)
    return contact


def _flat_writable(profile: ClientProfile) -> dict[str, Any]:
    out: dict[str, Any] = {k: getattr(profile, k) for k in (*_SCALARS, *_PHONES)}
    out["status"] = profile.status
    for prefix in _ADDRESSES:
        addr = getattr(profile, prefix) or Address()
        for part in _ADDRESS_PARTS:
            out[f"{prefix}.{part}"] = getattr(addr, part)
    return out


def contact_for_update(changes: Mapping[str, Any], current: ClientProfile | None) -> Contact:
    """Only the changed canonical fields, as a Contact to POST. An address is written whole (Xero replaces
    the address of that type), so partial address changes are merged onto `current`."""
    unknown = set(changes) - WRITABLE_FIELDS
    if unknown:
        raise ValueError(f"Xero contacts cannot write {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    for field, attr in _SCALARS.items():
        if field in changes:
            kwargs[attr] = _text(changes[field])
    phones = [Phone(phone_type=ptype, phone_number=_text(changes[field]), phone_area_code="",
                    phone_country_code="")
              for field, ptype in _PHONES.items() if field in changes]
    if phones:
        kwargs["phones"] = phones
    addresses = []
    for prefix, atype in _ADDRESSES.items():
        touched = {k.split(".", 1)[1]: v for k, v in changes.items() if k.startswith(prefix + ".")}
        if touched:
            base = getattr(current, prefix, None) if current is not None else None
            merged = {part: getattr(base, part, None) for part in _ADDRESS_PARTS} | touched
            # Lines 3-4 were folded into line2 on read, so they are cleared on write (else they'd repeat).
            addresses.append(XeroAddress(address_type=atype, address_line3="", address_line4="", **{
                attr: _text(merged.get(part)) for part, attr in _ADDRESS_PARTS.items()}))
    if addresses:
        kwargs["addresses"] = addresses
    if "status" in changes:
        kwargs["contact_status"] = _STATUS_TO_XERO[ClientStatus(changes["status"] or ClientStatus.ACTIVE)]
    return Contact(**kwargs)
