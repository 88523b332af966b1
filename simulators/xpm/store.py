"""The simulated practice's data: clients, contacts, relationships and client groups, in XPM's terms.

Client fields are kept by their XML element names (`Name`, `Email`, `PostalCity`, `TaxNumber` unmasked,
`BusinessStructure`...), so the XML layer renders and parses without a mapping table. Every change bumps the
client's `modified` time, which is what `client.api/list?modifiedsince=` filters on. Relationship and group
changes bump the clients they touch (their detailed records change).

Tests edit the remote side through `edit_client`, `archive_client`, `delete_client`, as if a practice user
had changed the record in XPM.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from simulators.xero_identity import SimClock
from syncworker.domain.profile import (
    ClientGroup,
    ClientKind,
    ClientProfile,
    ClientStatus,
    ContactProfile,
    Relationship,
)

# Practice-configured business structure names (XPM Admin). Writes must use one of these names.
DEFAULT_BUSINESS_STRUCTURES: dict[ClientKind, str] = {
    ClientKind.INDIVIDUAL: "Individual",
    ClientKind.COMPANY: "Company",
    ClientKind.TRUST: "Trust",
    ClientKind.PARTNERSHIP: "Partnership",
    ClientKind.SOLE_TRADER: "Sole Trader",
    ClientKind.OTHER: "Other",
}

RELATIONSHIP_TYPES: tuple[str, ...] = (
    "Director", "Shareholder", "Trustee", "Beneficiary", "Partner", "Settlor", "Associate", "Secretary",
    "Public Officer", "Husband", "Wife", "Spouse", "Parent Of", "Child Of", "Appointer", "Member", "Auditor",
    "Owner",
)
_RELATIONSHIP_BY_KEY = {t.lower().replace(" ", "_"): t for t in RELATIONSHIP_TYPES}

# Client elements accepted on add/update (write names). `Website` is NOT here: XPM reads `Website` but
# writes `WebSite`; a `Website` element in a write body is silently ignored, as unknown elements are.
WRITABLE_FIELDS: tuple[str, ...] = (
    "Name", "Title", "Gender", "FirstName", "MiddleName", "LastName", "OtherName", "Email", "DateOfBirth",
    "Address", "City", "Region", "PostCode", "Country", "PostalAddress", "PostalCity", "PostalRegion",
    "PostalPostCode", "PostalCountry", "Phone", "Fax", "WebSite", "ReferralSource", "ExportCode", "TaxNumber",
    "CompanyNumber", "BusinessNumber", "BusinessStructure", "BalanceMonth", "PrepareGST", "GSTRegistered",
    "GSTPeriod", "GSTBasis", "ProvisionalTaxBasis", "ProvisionalTaxRatio", "SignedTaxAuthority", "TaxAgent",
    "AgencyStatus", "ReturnType", "PrepareActivityStatement", "PrepareTaxReturn", "ClientCode", "IsProspect",
)


class StoreError(Exception):
    """A request the real XPM refuses (answered as `<Status>ERROR</Status>`)."""


class NotFoundError(StoreError):
    pass


def relationship_type_name(value: str) -> str | None:
    """XPM's spelling of a relationship type given either XPM's name or a canonical key (`public_officer`)."""
    key = value.strip().lower().replace(" ", "_").replace("-", "_")
    return _RELATIONSHIP_BY_KEY.get(key)


@dataclass(slots=True)
class StaffRef:
    uuid: str
    name: str


@dataclass(slots=True)
class BillingType:
    name: str
    cost_markup: str = "0.00"
    payment_term: str = "DayOfMonth"
    payment_day: int = 20


@dataclass(slots=True)
class Note:
    title: str
    text: str
    date: datetime
    created_by: str
    folder: str = ""


@dataclass(slots=True)
class ContactLink:
    contact_uuid: str
    is_primary: bool = False
    position: str = ""


@dataclass(slots=True)
class SimClient:
    uuid: str
    fields: dict[str, str]
    modified: datetime
    web_id: int
    is_archived: bool = False
    is_deleted: bool = False
    type: BillingType | None = None
    account_manager: StaffRef | None = None
    job_manager: StaffRef | None = None
    billing_client_uuid: str | None = None
    notes: list[Note] = field(default_factory=list)
    contacts: list[ContactLink] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.fields.get("Name", "")

    def sort_key(self) -> tuple[str, str]:
        return (self.name.casefold(), self.uuid)


@dataclass(slots=True)
class SimContact:
    uuid: str
    name: str
    salutation: str = ""
    addressee: str = ""
    mobile: str = ""
    email: str = ""
    phone: str = ""
    is_deleted: bool = False

    def sort_key(self) -> tuple[str, str]:
        return (self.name.casefold(), self.uuid)


@dataclass(slots=True)
class SimRelationship:
    uuid: str
    client_uuid: str
    related_uuid: str
    type: str
    number_of_shares: int | None = None
    percentage: float | None = None
    start_date: date | None = None
    end_date: date | None = None


@dataclass(slots=True)
class SimGroup:
    uuid: str
    name: str
    taxable: bool = False
    members: list[str] = field(default_factory=list)


class PracticeStore:
    """Thread-safe in-memory XPM practice. All public methods take the store lock."""

    def __init__(
        self,
        clock: SimClock,
        *,
        business_structures: Mapping[ClientKind, str] | None = None,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.business_structures = dict(business_structures or DEFAULT_BUSINESS_STRUCTURES)
        self.lock = threading.RLock()
        self.clients: dict[str, SimClient] = {}
        self.contacts: dict[str, SimContact] = {}
        self.relationships: dict[str, SimRelationship] = {}
        self.groups: dict[str, SimGroup] = {}
        self._rng = random.Random(seed ^ 0x5EED)
        self._next_web_id = 1000
        self.staff = [StaffRef(self._uuid(), n) for n in ("Jo Bloggs", "Sam Carter", "Priya Nair")]
        self.billing_types = [BillingType("20th of Month", "0.00", "DayOfMonth", 20), BillingType("14 Days", "0.00", "WithinDays", 14)]

    # ---- ids and time ----
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _web_id(self) -> int:
        self._next_web_id += 1
        return self._next_web_id

    def _touch(self, *client_uuids: str) -> None:
        now = self.clock.now()
        for cid in client_uuids:
            if cid in self.clients:
                self.clients[cid].modified = now

    # ---- seeding ----
    def seed_from(
        self,
        clients: Iterable[ClientProfile],
        contacts: Iterable[ContactProfile] = (),
        relationships: Iterable[Relationship] = (),
        groups: Iterable[ClientGroup] = (),
    ) -> None:
        """Load a generated practice. Ids of the profiles (UUIDs) are kept."""
        with self.lock:
            for p in clients:
                self._put_profile(p, p.id, p.modified_at or self.clock.now())
            for c in contacts:
                self.contacts[c.id] = SimContact(
                    c.id, c.name, salutation=c.given_name or "", mobile=c.mobile or "", email=c.email or "",
                    phone=c.phone or "", is_deleted=c.deleted,
                )
                for cid in c.client_ids:
                    if cid in self.clients:
                        self.clients[cid].contacts.append(ContactLink(c.id, c.is_primary, c.position or ""))
            for r in relationships:
                rtype = relationship_type_name(r.type) or r.type
                rid = r.id or self._uuid()
                self.relationships[rid] = SimRelationship(
                    rid, r.client_id, r.related_client_id, rtype, r.number_of_shares, r.percentage,
                    r.start_date, r.end_date,
                )
            for g in groups:
                gid = g.id or self._uuid()
                self.groups[gid] = SimGroup(gid, g.name, bool(g.taxable), [m for m in g.member_ids if m in self.clients])

    def add_profile(self, profile: ClientProfile) -> SimClient:
        """Test helper: a client a practice user created in XPM (a new UUID; modified now)."""
        with self.lock:
            return self._put_profile(profile, self._uuid(), self.clock.now())

    def _put_profile(self, p: ClientProfile, client_uuid: str, modified: datetime) -> SimClient:
        sc = SimClient(
            uuid=client_uuid, fields=self.profile_fields(p), modified=modified, web_id=self._web_id(),
            is_archived=p.status == ClientStatus.ARCHIVED, is_deleted=p.status == ClientStatus.DELETED,
            type=self._rng.choice(self.billing_types), account_manager=self._rng.choice(self.staff),
            job_manager=self._rng.choice(self.staff) if p.kind != ClientKind.INDIVIDUAL else None,
        )
        if self._rng.random() < 0.1:
            sc.notes.append(Note("Engagement letter", "Signed engagement letter on file.", modified, self._rng.choice(self.staff).name))
        self.clients[sc.uuid] = sc
        return sc

    def profile_fields(self, p: ClientProfile) -> dict[str, str]:
        """A canonical profile in XPM's element names (what XPM holds, tax number unmasked)."""
        f: dict[str, str] = {"Name": p.name}
        structure = p.extra.get("business_structure") or self.business_structures.get(p.kind, "")
        put = f.__setitem__
        if p.kind.is_person:
            for tag, value in (("FirstName", p.given_name), ("MiddleName", p.middle_name), ("LastName", p.family_name)):
                if value:
                    put(tag, value)
        for tag, value in (
            ("Email", p.email), ("Phone", p.phone or p.mobile), ("WebSite", p.website),
            ("TaxNumber", p.tax_number), ("BusinessNumber", p.business_number), ("CompanyNumber", p.company_number),
            ("BusinessStructure", structure),
        ):
            if value:
                put(tag, value)
        if p.date_of_birth:
            put("DateOfBirth", p.date_of_birth.isoformat())
        for prefix, addr in (("", p.address), ("Postal", p.postal_address)):
            if addr is None:
                continue
            lines = [x for x in (addr.line1, addr.line2) if x]
            if lines:
                put(f"{prefix}Address", "\n".join(lines))
            for tag, value in (("City", addr.city), ("Region", addr.region), ("PostCode", addr.postcode), ("Country", addr.country)):
                if value:
                    put(f"{prefix}{tag}", value)
        for k, v in p.extra.items():
            if k[:1].isupper() and isinstance(v, str):  # raw XPM fields carried by the generator
                put(k, v)
        return f

    # ---- clients ----
    def get_client(self, client_uuid: str) -> SimClient:
        with self.lock:
            client = self.clients.get(client_uuid.lower())
            if client is None:
                raise NotFoundError("Client not found")
            return client

    def list_clients(self, *, modified_since: datetime | None = None) -> list[SimClient]:
        """`client.api/list`: every client, archived and deleted included."""
        with self.lock:
            out = [c for c in self.clients.values() if modified_since is None or c.modified >= modified_since]
            return sorted(out, key=SimClient.sort_key)

    def active_clients(self) -> list[SimClient]:
        """`client.api/paged-list` population: non-archived, non-deleted."""
        with self.lock:
            return sorted((c for c in self.clients.values() if not c.is_archived and not c.is_deleted), key=SimClient.sort_key)

    def search_clients(self, query: str) -> list[SimClient]:
        q = query.strip().casefold()
        with self.lock:
            hits = [
                c for c in self.clients.values()
                if not c.is_deleted and q and any(q in c.fields.get(k, "").casefold() for k in ("Name", "Email", "ClientCode"))
            ]
            return sorted(hits, key=SimClient.sort_key)

    def add_client(self, values: Mapping[str, str], contacts: Iterable[tuple[SimContact, bool, str]] = ()) -> SimClient:
        with self.lock:
            if not values.get("Name", "").strip():
                raise StoreError("Name is required")
            fields = self._validated(values)
            client = SimClient(self._uuid(), fields, self.clock.now(), self._web_id(), type=self.billing_types[0])
            self._apply_refs(client, values)
            self.clients[client.uuid] = client
            links: list[ContactLink] = []
            for contact, is_primary, position in contacts:
                self.contacts[contact.uuid] = contact
                links.append(ContactLink(contact.uuid, is_primary, position))
            _last_primary_wins(links)
            client.contacts = links
            return client

    def new_contact(self, **values: str) -> SimContact:
        with self.lock:
            return SimContact(self._uuid(), **values)

    def update_client(self, client_uuid: str, values: Mapping[str, str]) -> SimClient:
        """Elements present are written (an empty element clears the field); elements left out are KEPT."""
        with self.lock:
            client = self._live_client(client_uuid)
            if "Name" in values and not values["Name"].strip():
                raise StoreError("Name cannot be empty")
            for key, value in self._validated(values).items():
                if value == "":
                    client.fields.pop(key, None)
                else:
                    client.fields[key] = value
            self._apply_refs(client, values)
            client.modified = self.clock.now()
            return client

    def archive_client(self, client_uuid: str) -> SimClient:
        with self.lock:
            client = self._live_client(client_uuid)
            client.is_archived = True
            client.modified = self.clock.now()
            return client

    def delete_client(self, client_uuid: str) -> SimClient:
        with self.lock:
            client = self._live_client(client_uuid)
            client.is_deleted = True
            client.modified = self.clock.now()
            return client

    def edit_client(self, client_uuid: str, **values: str | None) -> SimClient:
        """Test helper: change fields by XML name as a practice user would (None clears). `Website` is
        accepted here as an alias of the stored `WebSite`."""
        with self.lock:
            client = self.get_client(client_uuid)
            for key, value in values.items():
                key = "WebSite" if key == "Website" else key
                if value is None or value == "":
                    client.fields.pop(key, None)
                else:
                    client.fields[key] = value
            client.modified = self.clock.now()
            return client

    def restore_client(self, client_uuid: str) -> SimClient:
        """Test helper: un-archive (XPM's UI can; the API cannot)."""
        with self.lock:
            client = self.get_client(client_uuid)
            client.is_archived = False
            client.modified = self.clock.now()
            return client

    def _live_client(self, client_uuid: str) -> SimClient:
        client = self.clients.get(client_uuid.strip().lower())
        if client is None or client.is_deleted:
            raise StoreError(f"Client {client_uuid} not found")
        return client

    def _validated(self, values: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key in WRITABLE_FIELDS:
            if key not in values:
                continue
            value = values[key].strip() if key not in ("Address", "PostalAddress") else values[key]
            if key == "TaxNumber" and "*" in value:
                # What a client gets for writing back the masked value it read.
                raise StoreError("Tax Number is invalid")
            if key == "BusinessStructure" and value and value not in self.business_structures.values():
                raise StoreError(f"Business Structure '{value}' not found")
            if key == "DateOfBirth" and value:
                value = _parse_date(value).isoformat()
            out[key] = value
        return out

    def _apply_refs(self, client: SimClient, values: Mapping[str, str]) -> None:
        staff = {s.uuid: s for s in self.staff}
        for tag, attr in (("AccountManagerUUID", "account_manager"), ("JobManagerUUID", "job_manager")):
            if tag in values:
                ref = values[tag].strip().lower()
                if ref and ref not in staff:
                    raise StoreError(f"{tag} is not a staff member")
                setattr(client, attr, staff.get(ref))
        if "BillingClientUUID" in values:
            ref = values["BillingClientUUID"].strip().lower()
            if ref and ref not in self.clients:
                raise StoreError("Billing client not found")
            client.billing_client_uuid = ref or None

    # ---- contacts ----
    def live_contacts(self) -> list[SimContact]:
        with self.lock:
            return sorted((c for c in self.contacts.values() if not c.is_deleted), key=SimContact.sort_key)

    def get_contact(self, contact_uuid: str) -> SimContact:
        with self.lock:
            contact = self.contacts.get(contact_uuid.strip().lower())
            if contact is None:
                raise NotFoundError("Contact not found")
            return contact

    def contact_link(self, contact_uuid: str, client_uuid: str) -> ContactLink | None:
        with self.lock:
            client = self.clients.get(client_uuid.strip().lower())
            if client is None:
                return None
            return next((link for link in client.contacts if link.contact_uuid == contact_uuid), None)

    def add_contact(self, client_uuid: str, contact: SimContact, is_primary: bool, position: str) -> SimContact:
        with self.lock:
            client = self._live_client(client_uuid)
            if not contact.name.strip():
                raise StoreError("Name is required")
            self.contacts[contact.uuid] = contact
            if is_primary:
                for link in client.contacts:
                    link.is_primary = False
            client.contacts.append(ContactLink(contact.uuid, is_primary, position))
            client.modified = self.clock.now()
            return contact

    def update_contact(self, contact_uuid: str, values: Mapping[str, str], client_uuid: str | None,
                       is_primary: bool | None, position: str | None) -> SimContact:
        with self.lock:
            contact = self.get_contact(contact_uuid)
            for key in ("name", "salutation", "addressee", "mobile", "email", "phone"):
                if key in values:
                    setattr(contact, key, values[key].strip())
            touched = [cid for cid, c in self.clients.items() if any(lk.contact_uuid == contact.uuid for lk in c.contacts)]
            if client_uuid:
                link = self.contact_link(contact.uuid, client_uuid)
                if link is None:
                    raise StoreError("Contact is not linked to this client")
                if position is not None:
                    link.position = position
                if is_primary:
                    for other in self.clients[client_uuid.lower()].contacts:
                        other.is_primary = other is link
                elif is_primary is False:
                    link.is_primary = False
            self._touch(*touched)
            return contact

    def delete_contact(self, contact_uuid: str, client_uuid: str | None) -> None:
        with self.lock:
            contact = self.get_contact(contact_uuid)
            linked = [c for c in self.clients.values() if any(lk.contact_uuid == contact.uuid for lk in c.contacts)]
            if client_uuid:  # unlink from that client only
                linked = [c for c in linked if c.uuid == client_uuid.lower()]
            else:
                contact.is_deleted = True
            for c in linked:
                c.contacts = [lk for lk in c.contacts if lk.contact_uuid != contact.uuid]
            self._touch(*(c.uuid for c in linked))

    def link_contacts(self, client_uuid: str, links: list[ContactLink]) -> None:
        with self.lock:
            client = self._live_client(client_uuid)
            if len(links) > 10:
                raise StoreError("A maximum of 10 contacts can be added per request")
            for link in links:
                self.get_contact(link.contact_uuid)
                client.contacts = [lk for lk in client.contacts if lk.contact_uuid != link.contact_uuid] + [link]
            _last_primary_wins(client.contacts)
            client.modified = self.clock.now()

    # ---- relationships ----
    def relationships_of(self, client_uuid: str) -> list[SimRelationship]:
        """Relationships appear on the client they were added to (ClientUUID side) only; XPM does not
        document an automatic inverse, so the simulator creates none."""
        with self.lock:
            return [r for r in self.relationships.values() if r.client_uuid == client_uuid]

    def add_relationship(self, client_uuid: str, related_uuid: str, rtype: str, *, shares: int | None,
                         percentage: float | None, start: date | None, end: date | None) -> SimRelationship:
        with self.lock:
            client, related = self._live_client(client_uuid), self._live_client(related_uuid)
            name = relationship_type_name(rtype)
            if name is None:
                raise StoreError(f"Relationship type '{rtype}' is not supported")
            if client.uuid == related.uuid:
                raise StoreError("A client cannot be related to itself")
            for r in self.relationships.values():
                if (r.client_uuid, r.related_uuid, r.type) == (client.uuid, related.uuid, name):
                    raise StoreError("Relationship already exists")
            rel = SimRelationship(
                self._uuid(), client.uuid, related.uuid, name,
                shares if name in ("Shareholder", "Owner") else None,
                percentage if name == "Partner" else None, start, end,
            )
            self.relationships[rel.uuid] = rel
            self._touch(client.uuid, related.uuid)
            return rel

    def update_relationship(self, rel_uuid: str, *, values: Mapping[str, object]) -> SimRelationship:
        """Only shares, percentage and dates change; type and parties cannot (ClientRelationshipUpdateRequestDto)."""
        with self.lock:
            rel = self.relationships.get(rel_uuid.strip().lower())
            if rel is None:
                raise StoreError("Relationship not found")
            if "number_of_shares" in values and rel.type in ("Shareholder", "Owner"):
                rel.number_of_shares = values["number_of_shares"]  # type: ignore[assignment]
            if "percentage" in values and rel.type == "Partner":
                rel.percentage = values["percentage"]  # type: ignore[assignment]
            for key in ("start_date", "end_date"):
                if key in values:
                    setattr(rel, key, values[key])
            self._touch(rel.client_uuid, rel.related_uuid)
            return rel

    def delete_relationship(self, rel_uuid: str) -> None:
        with self.lock:
            rel = self.relationships.pop(rel_uuid.strip().lower(), None)
            if rel is None:
                raise StoreError("Relationship not found")
            self._touch(rel.client_uuid, rel.related_uuid)

    # ---- groups ----
    def groups_of(self, client_uuid: str) -> list[SimGroup]:
        with self.lock:
            return sorted((g for g in self.groups.values() if client_uuid in g.members), key=lambda g: g.name.casefold())

    def list_groups(self) -> list[SimGroup]:
        with self.lock:
            return sorted(self.groups.values(), key=lambda g: (g.name.casefold(), g.uuid))

    def get_group(self, group_uuid: str) -> SimGroup:
        with self.lock:
            group = self.groups.get(group_uuid.strip().lower())
            if group is None:
                raise NotFoundError("Group not found")
            return group

    def add_group(self, name: str, client_uuid: str, taxable: bool) -> SimGroup:
        with self.lock:
            if not name.strip():
                raise StoreError("Name is required")
            if not client_uuid.strip():
                raise StoreError("ClientUUID is required")
            client = self._live_client(client_uuid)
            group = SimGroup(self._uuid(), name.strip(), taxable, [client.uuid])
            self.groups[group.uuid] = group
            self._touch(client.uuid)
            return group

    def change_members(self, group_uuid: str, add: list[str], remove: list[str]) -> SimGroup:
        with self.lock:
            group = self.groups.get(group_uuid.strip().lower())
            if group is None:
                raise StoreError("Group not found")
            adds = [self._live_client(a).uuid for a in add]
            removes = [r.strip().lower() for r in remove]
            for cid in adds:
                if cid not in group.members:
                    group.members.append(cid)
            group.members = [m for m in group.members if m not in removes]
            self._touch(*adds, *removes)
            return group

    def delete_group(self, group_uuid: str) -> None:
        with self.lock:
            group = self.groups.pop(group_uuid.strip().lower(), None)
            if group is None:
                raise StoreError("Group not found")
            self._touch(*group.members)


def _last_primary_wins(links: list[ContactLink]) -> None:
    primaries = [lk for lk in links if lk.is_primary]
    for lk in primaries[:-1]:
        lk.is_primary = False


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise StoreError(f"Invalid date '{value}'") from exc
