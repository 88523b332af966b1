"""The simulated organisation's contacts, kept in Xero's own JSON shape.

Behaviour from the reference and the Accounting API docs: every contact carries all four phone types and
both address types; updates merge (a field absent from the payload is left alone, "" clears it; phones
and addresses merge by type); a second ACTIVE contact with the same name is refused; archiving is an update
of ContactStatus; every write bumps UpdatedDateUTC, and every write fires a CREATE or UPDATE event
(`on_change`), whoever made it (the API or a test helper).
"""

from __future__ import annotations

import copy
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from adapters.xero.dates import format_ms_date
from simulators.xero_identity import SimClock

PHONE_TYPES = ("DEFAULT", "DDI", "FAX", "MOBILE")
ADDRESS_TYPES = ("POBOX", "STREET")
_SCALARS = ("ContactNumber", "AccountNumber", "Name", "FirstName", "LastName", "EmailAddress",
            "BankAccountDetails", "TaxNumber", "CompanyNumber", "ContactStatus")
_PHONE_FIELDS = ("PhoneNumber", "PhoneAreaCode", "PhoneCountryCode")
_ADDRESS_FIELDS = ("AddressLine1", "AddressLine2", "AddressLine3", "AddressLine4", "City", "Region",
                   "PostalCode", "Country", "AttentionTo")
_MAX_LEN = {"Name": 255, "ContactNumber": 50, "AccountNumber": 50, "FirstName": 255, "LastName": 255,
            "EmailAddress": 255, "TaxNumber": 50, "CompanyNumber": 50}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

ChangeListener = Callable[[str, str], None]  # (event_type CREATE|UPDATE, contact id)


class ValidationFailed(Exception):
    """A 400 ValidationException for one element."""

    def __init__(self, messages: list[str], element: dict[str, Any]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages
        self.element = element


def duplicate_name_message(name: str) -> str:
    return (f"The contact name {name} is already assigned to another contact. The contact name must be "
            "unique across all active contacts.")


class ContactStore:
    def __init__(self, clock: SimClock, *, on_change: ChangeListener | None = None, seed: int = 0) -> None:
        self.clock = clock
        self.on_change = on_change
        self._ids = random.Random(seed)  # deterministic ContactIDs for a given seed
        self._lock = threading.RLock()
        self._contacts: dict[str, dict[str, Any]] = {}
        self._updated: dict[str, datetime] = {}

    # --- reads ----------------------------------------------------------------------------------------------

    def get(self, id_or_number: str) -> dict[str, Any] | None:
        """By ContactID, or by ContactNumber (Xero accepts either in GET /Contacts/{id})."""
        with self._lock:
            found = self._contacts.get(id_or_number.lower())
            if found is None:
                found = next((c for c in self._contacts.values() if c.get("ContactNumber") == id_or_number), None)
            return self._public(found) if found else None

    def select(self, predicate: Callable[[dict[str, Any]], bool] = lambda c: True, *,
               modified_since: datetime | None = None) -> list[dict[str, Any]]:
        """Copies of the contacts matching `predicate`, updated at or after `modified_since` (inclusive,
        so a window boundary never loses a record)."""
        with self._lock:
            return [self._public(c) for cid, c in self._contacts.items()
                    if (modified_since is None or self._updated[cid] >= modified_since) and predicate(c)]

    def query(self, predicate: Callable[[dict[str, Any]], bool], *, modified_since: datetime | None,
              order_by: str = "Name", descending: bool = False,
              window: slice = slice(None)) -> tuple[int, list[dict[str, Any]]]:
        """(number of matches, copies of the matches in `window`), sorted by `order_by` then ContactID.
        Filters and sorts the live records and copies only the window, so paging a large organisation
        stays cheap."""

        def key(c: dict[str, Any]) -> tuple[Any, str]:
            if order_by == "UpdatedDateUTC":
                return self._updated[c["ContactID"]], c["ContactID"]
            value = c.get(order_by, "")
            return (value.casefold() if isinstance(value, str) else value), c["ContactID"]

        with self._lock:
            matches = [c for cid, c in self._contacts.items()
                       if (modified_since is None or self._updated[cid] >= modified_since) and predicate(c)]
            matches.sort(key=key, reverse=descending)
            return len(matches), [self._public(c) for c in matches[window]]

    def updated_at(self, contact_id: str) -> datetime:
        with self._lock:
            return self._updated[contact_id.lower()]

    def by_name(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            found = next((c for c in self._contacts.values() if c["Name"] == name), None)
            return self._public(found) if found else None

    def __len__(self) -> int:
        return len(self._contacts)

    # --- writes (API and helpers) ---------------------------------------------------------------------------

    def create(self, payload: dict[str, Any], *, notify: bool = True) -> dict[str, Any]:
        with self._lock:
            contact = _blank_contact(str(uuid.UUID(int=self._ids.getrandbits(128), version=4)))
            self._apply(contact, payload, creating=True)
            self._contacts[contact["ContactID"]] = contact
            self._touch(contact)
            out = self._public(contact)
        if notify:
            self._notify("CREATE", contact["ContactID"])
        return out

    def update(self, contact_id: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """None when there is no such contact."""
        with self._lock:
            contact = self._contacts.get(contact_id.lower())
            if contact is None:
                return None
            candidate = copy.deepcopy(contact)
            self._apply(candidate, payload, creating=False)
            contact.clear()
            contact.update(candidate)
            self._touch(contact)
            out = self._public(contact)
        self._notify("UPDATE", contact["ContactID"])
        return out

    # Test helpers: a user editing in Xero's UI. They fire webhooks like any other write.
    def add(self, name: str, **fields: Any) -> dict[str, Any]:
        return self.create({"Name": name, **fields})

    def edit(self, contact_id: str, **fields: Any) -> dict[str, Any]:
        """Edit with Xero JSON names, e.g. `edit(id, EmailAddress="a@b.c", Phones=[...])`."""
        updated = self.update(contact_id, fields)
        if updated is None:
            raise KeyError(contact_id)
        return updated

    def archive(self, contact_id: str) -> dict[str, Any]:
        return self.edit(contact_id, ContactStatus="ARCHIVED")

    def restore(self, contact_id: str) -> dict[str, Any]:
        return self.edit(contact_id, ContactStatus="ACTIVE")

    # --- seeding --------------------------------------------------------------------------------------------

    def seed(self, count: int, rng: random.Random) -> None:
        """`count` fake contacts (no real people), last updated over the 30 days before the clock's now.
        No webhooks: this is the organisation as it was before the subscription."""
        now = self.clock.now()
        for n, payload in enumerate(fake_contacts(count, rng)):
            contact = self.create(payload, notify=False)
            with self._lock:
                cid = contact["ContactID"]
                when = now - timedelta(days=30) + timedelta(seconds=n * (30 * 86400 // max(count, 1)))
                self._updated[cid] = when
                self._contacts[cid]["UpdatedDateUTC"] = format_ms_date(when)

    # --- internals ------------------------------------------------------------------------------------------

    def _apply(self, contact: dict[str, Any], payload: dict[str, Any], *, creating: bool) -> None:
        element = {k: v for k, v in payload.items() if k != "ValidationErrors"}
        errors: list[str] = []
        for key in _SCALARS:
            if key in payload:
                value = "" if payload[key] is None else str(payload[key])
                if len(value) > _MAX_LEN.get(key, 10_000):
                    errors.append(f"{key} must be less than {_MAX_LEN[key] + 1} characters long.")
                contact[key] = value.strip() if key == "Name" else value
        for phone in _typed(payload.get("Phones"), "PhoneType", PHONE_TYPES, errors):
            target = next(p for p in contact["Phones"] if p["PhoneType"] == phone["PhoneType"])
            target.update({k: str(phone.get(k) or "") for k in _PHONE_FIELDS if k in phone})
        for addr in _typed(payload.get("Addresses"), "AddressType", ADDRESS_TYPES, errors):
            target = next(a for a in contact["Addresses"] if a["AddressType"] == addr["AddressType"])
            target.update({k: str(addr.get(k) or "") for k in _ADDRESS_FIELDS if k in addr})
        if not contact.get("Name"):
            errors.append("Contact name must be specified." if creating else "Contact name cannot be blank.")
        if contact.get("EmailAddress") and not _EMAIL.match(contact["EmailAddress"]):
            errors.append("Email address must be valid.")
        status = contact.get("ContactStatus") or "ACTIVE"
        if status not in ("ACTIVE", "ARCHIVED"):
            errors.append(f"ContactStatus {status} is not valid.")
        contact["ContactStatus"] = status
        if status == "ACTIVE" and contact.get("Name") and self._name_taken(contact["Name"], contact["ContactID"]):
            errors.append(duplicate_name_message(contact["Name"]))
        if errors:
            raise ValidationFailed(errors, element)

    def _name_taken(self, name: str, own_id: str) -> bool:
        folded = name.strip().casefold()
        return any(c["ContactStatus"] == "ACTIVE" and c["Name"].casefold() == folded and cid != own_id
                   for cid, c in self._contacts.items())

    def _touch(self, contact: dict[str, Any]) -> None:
        now = self.clock.now()
        self._updated[contact["ContactID"]] = now
        contact["UpdatedDateUTC"] = format_ms_date(now)

    def _notify(self, event_type: str, contact_id: str) -> None:
        if self.on_change is not None:
            self.on_change(event_type, contact_id)

    @staticmethod
    def _public(contact: dict[str, Any]) -> dict[str, Any]:
        # Xero leaves empty optional strings out of its JSON.
        out = {k: v for k, v in copy.deepcopy(contact).items() if v != "" or k == "Name"}
        out["Phones"] = [{k: v for k, v in p.items() if v != "" or k == "PhoneType"} for p in out["Phones"]]
        out["Addresses"] = [{k: v for k, v in a.items() if v != "" or k == "AddressType"}
                            for a in out["Addresses"]]
        return out


def _typed(items: Any, type_key: str, allowed: Iterable[str], errors: list[str]) -> list[dict[str, Any]]:
    out = []
    for item in items or []:
        kind = str(item.get(type_key, "")).upper() if isinstance(item, dict) else ""
        if kind not in allowed:
            errors.append(f"{type_key} {kind or '(missing)'} is not valid.")
            continue
        out.append({**item, type_key: kind})
    return out


def _blank_contact(contact_id: str) -> dict[str, Any]:
    return {
        "ContactID": contact_id, "ContactStatus": "ACTIVE", "Name": "",
        "Addresses": [{"AddressType": t, **dict.fromkeys(_ADDRESS_FIELDS, "")} for t in ADDRESS_TYPES],
        "Phones": [{"PhoneType": t, **dict.fromkeys(_PHONE_FIELDS, "")} for t in PHONE_TYPES],
        "UpdatedDateUTC": "", "ContactGroups": [], "IsSupplier": False, "IsCustomer": False,
        "HasAttachments": False, "HasValidationErrors": False,
    }


_GIVEN = ("Aroha", "Ben", "Chloe", "Dev", "Ema", "Finn", "Grace", "Hemi", "Isla", "Jack", "Kiri", "Liam",
          "Maia", "Noah", "Olivia", "Priya", "Quinn", "Ruby", "Sam", "Tama")
_FAMILY = ("Anders", "Brooks", "Chen", "Dunmore", "Ellison", "Fairweather", "Gale", "Harte", "Ito", "Jory",
           "Kemp", "Larsen", "Moana", "Nakamura", "Oakes", "Patel", "Quill", "Rangi", "Sato", "Tane")
_WORDS = ("Harbour", "Summit", "Kauri", "Silverfern", "Ironbark", "Bluegum", "Riverstone", "Northgate",
          "Tui", "Pohutukawa", "Coastal", "Granite", "Meridian", "Lakeside", "Redwood", "Skyline")
_TRADES = ("Plumbing", "Builders", "Consulting", "Design", "Logistics", "Dental", "Motors", "Bakery",
           "Electrical", "Landscaping")
_SUFFIXES = ("Limited", "Ltd", "Pty Ltd", "Trust", "Partners", "Holdings Limited", "Family Trust")


def fake_contacts(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Made-up contacts: about 40% people (First/Last set, name = "First Last"), the rest organisations.
    Names are unique; emails use the reserved .test domain; phones are in fictional ranges."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    while len(out) < count:
        if rng.random() < 0.4:
            first, last = rng.choice(_GIVEN), rng.choice(_FAMILY)
            name = f"{first} {last}"
            payload: dict[str, Any] = {"FirstName": first, "LastName": last}
            email_local = f"{first}.{last}".lower()
        else:
            name = f"{rng.choice(_WORDS)} {rng.choice(_TRADES)} {rng.choice(_SUFFIXES)}"
            payload = {}
            email_local = "accounts"
        if name in seen:
            name = f"{name} {len(out) + 1}"
        seen.add(name)
        slug = re.sub(r"[^a-z0-9]+", "", name.lower())[:20]
        payload.update({
            "Name": name,
            "EmailAddress": f"{email_local}@{slug}.example.test",
            "Phones": [{"PhoneType": "DEFAULT", "PhoneAreaCode": "09", "PhoneNumber": f"555 {rng.randrange(10000):04d}"}],
            "Addresses": [{"AddressType": "STREET", "AddressLine1": f"{rng.randrange(1, 400)} {rng.choice(_WORDS)} Road",
                           "City": rng.choice(("Auckland", "Wellington", "Christchurch", "Sydney")),
                           "PostalCode": f"{rng.randrange(1000, 9999)}", "Country": "NZ"}],
        })
        if rng.random() < 0.1:
            payload["ContactStatus"] = "ARCHIVED"
        out.append(payload)
    return out
