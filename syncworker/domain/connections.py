"""Rules for connections between clients (pure: no ORM, no I/O).

A connection is one fact seen from both sides: (client C, related R, type T) reads "R is T of C", with a
description shown on C's record and another on R's (Canopy). The rules come from the seed documents:

- only clients can be connected, not contacts (Canopy); a client cannot be connected to itself;
- the same pair is not connected twice with the same type; for a symmetric type (spouse) in either
  direction, and a type and its inverse (parent_of / child_of) state the same fact from both sides;
- two businesses are refused when the tenant's `allow_business_connections` is false (Autosoft's
  customer connections); it defaults to true because XPM has company-to-company relationships
  (shareholder, corporate trustee). Types that describe a person (spouse, relative...) need people
  whatever the setting;
- a connection between a business and a person with no type chosen is "employee", the business being
  the employer (Autosoft);
- the first person connected to a business becomes its primary contact; it can be changed, and when the
  primary's connection is removed the next person connected (oldest first) takes over.

Every refusal is a `ConnectionRefused` naming the rule and saying what to do instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PERSON_KINDS = frozenset({"individual", "sole_trader"})  # ClientKind.is_person
PEOPLE_RULES = ("both", "related", "none")


class ConnectionRefused(ValueError):
    """A connection or group change that breaks a rule. `rule` names it (for tests and API answers)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True, slots=True)
class RelationshipType:
    key: str
    category: str  # personal | practice
    label: str  # shown on the client's record for the related client
    inverse_label: str  # shown on the related client's record for the client
    xpm: str | None = None
    symmetric: bool = False
    inverse: str | None = None
    people: str = "none"  # both | related | none


class RelationshipTypes:
    """The configured types (config/relationships.yaml), by canonical key and by XPM name."""

    def __init__(self, types: Iterable[RelationshipType], *, business_default_type: str = "employee",
                 allow_business_connections: bool = True) -> None:
        self.by_key = {t.key: t for t in types}
        self.business_default_type = business_default_type
        self.allow_business_connections = allow_business_connections
        for t in self.by_key.values():
            if t.people not in PEOPLE_RULES:
                raise ValueError(f"relationship type {t.key}: people must be one of {PEOPLE_RULES}")
            if t.inverse and self.by_key.get(t.inverse, t).inverse not in (t.key, None):
                raise ValueError(f"relationship type {t.key}: its inverse {t.inverse} does not point back")
        if business_default_type not in self.by_key:
            raise ValueError(f"business_default_type {business_default_type!r} is not a configured type")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> RelationshipTypes:
        types = []
        for key, spec in (raw.get("types") or {}).items():
            spec = dict(spec or {})
            label = str(spec.get("label") or key.replace("_", " ").capitalize())
            types.append(RelationshipType(
                key=str(key), category=str(spec.get("category", "personal")), label=label,
                inverse_label=str(spec.get("inverse_label") or label), xpm=spec.get("xpm") or None,
                symmetric=bool(spec.get("symmetric", False)), inverse=spec.get("inverse") or None,
                people=str(spec.get("people", "none")),
            ))
        return cls(types, business_default_type=str(raw.get("business_default_type", "employee")),
                   allow_business_connections=bool(raw.get("allow_business_connections", True)))

    def get(self, key: str) -> RelationshipType:
        t = self.by_key.get(key.strip().lower().replace(" ", "_").replace("-", "_"))
        if t is None:
            raise ConnectionRefused("unknown_type", f"unknown relationship type {key!r}: choose one of "
                                    f"{', '.join(sorted(self.by_key))}")
        return t

    def by_xpm_name(self, name: str) -> RelationshipType | None:
        wanted = " ".join(name.split()).casefold()
        return next((t for t in self.by_key.values() if t.xpm and t.xpm.casefold() == wanted), None)

    def keys(self, category: str | None = None) -> list[str]:
        return sorted(k for k, t in self.by_key.items() if category in (None, t.category))


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a proposed connection. `kind` is the client kind; `is_client` is False for a contact."""

    id: int
    name: str
    kind: str | None
    is_client: bool = True
    merged_into: str | None = None  # the survivor's id when this record was merged away

    @property
    def is_person(self) -> bool:
        return self.kind in PERSON_KINDS

    @property
    def is_business(self) -> bool:
        return self.is_client and not self.is_person


@dataclass(frozen=True, slots=True)
class ExistingConnection:
    id: int
    client_id: int
    related_client_id: int
    type: str
    is_primary_contact: bool = False


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    """What to store: possibly turned around (the employer is the client side of "employee"; symmetric
    types keep the lower id as client so the database's unique constraint sees both directions)."""

    client_id: int
    related_client_id: int
    type: str
    description: str
    related_description: str
    is_primary_contact: bool
    turned_around: bool = False


def fact_key(client_id: int, related_id: int, rtype: RelationshipType) -> tuple[int, int, str]:
    """The same fact gets the same key whichever side states it."""
    if rtype.symmetric:
        a, b = sorted((client_id, related_id))
        return a, b, rtype.key
    if rtype.inverse and rtype.inverse < rtype.key:
        return related_id, client_id, rtype.inverse
    return client_id, related_id, rtype.key


def plan_connection(
    client: Party, related: Party, type_key: str | None, types: RelationshipTypes,
    existing: Iterable[ExistingConnection], *, description: str | None = None,
    related_description: str | None = None, allow_business_connections: bool | None = None,
    business_ids_with_primary: Iterable[int] = (),
) -> ConnectionPlan:
    """Check every rule for connecting `client` to `related` and say what to store. `existing` are the
    connections that touch either party; `business_ids_with_primary` the businesses that already have a
    primary contact."""
    for p in (client, related):
        if not p.is_client:
            raise ConnectionRefused("not_a_client", f"{p.name} is a contact, not a client: only clients can be "
                                    "connected (keep people who are not clients as contacts of a client)")
        if p.merged_into:
            raise ConnectionRefused("merged", f"{p.name} was merged into client {p.merged_into}: connect that "
                                    "client instead")
    if client.id == related.id:
        raise ConnectionRefused("self", f"{client.name} cannot be connected to itself")
    allow = types.allow_business_connections if allow_business_connections is None else allow_business_connections
    if client.is_business and related.is_business and not allow:
        raise ConnectionRefused("business_to_business", f"{client.name} and {related.name} are both businesses, "
                                "and this practice does not connect two businesses (tenant setting "
                                "allow_business_connections); connect a person to each instead")
    turned = False
    if type_key is None or not type_key.strip():
        if client.is_business == related.is_business:
            raise ConnectionRefused("type_required", "choose a relationship type: one of "
                                    f"{', '.join(types.keys())}")
        rtype = types.get(types.business_default_type)
        if client.is_person:  # the person is the employee: the business goes on the client side
            client, related, description, related_description = related, client, related_description, description
            turned = True
    else:
        rtype = types.get(type_key)
    _check_people(client, related, rtype)
    if rtype.symmetric and client.id > related.id:
        client, related, description, related_description = related, client, related_description, description
        turned = not turned
    key = fact_key(client.id, related.id, rtype)
    for e in existing:
        other = types.by_key.get(e.type)
        if other is not None and fact_key(e.client_id, e.related_client_id, other) == key:
            raise ConnectionRefused("duplicate", f"{related.name} is already connected to {client.name} as "
                                    f"{rtype.label.lower()} (connection {e.id})")
    primary = _becomes_primary(client, related, business_ids_with_primary)
    return ConnectionPlan(
        client_id=client.id, related_client_id=related.id, type=rtype.key,
        description=(description or "").strip() or rtype.label,
        related_description=(related_description or "").strip() or rtype.inverse_label,
        is_primary_contact=primary, turned_around=turned,
    )


def _check_people(client: Party, related: Party, rtype: RelationshipType) -> None:
    if rtype.people == "both":
        for p in (client, related):
            if not p.is_person:
                raise ConnectionRefused("needs_person", f"{rtype.label.lower()} connects two people, and "
                                        f"{p.name} is a {p.kind}")
    elif rtype.people == "related" and not related.is_person:
        raise ConnectionRefused("needs_person", f"{rtype.label.lower()} needs a person on the related side, and "
                                f"{related.name} is a {related.kind} (to say {client.name} works for "
                                f"{related.name}, connect from {related.name}'s side)")


def _becomes_primary(client: Party, related: Party, with_primary: Iterable[int]) -> bool:
    """The first person connected to a business becomes its primary contact."""
    business = _business_of(client, related)
    return business is not None and business.id not in set(with_primary)


def _business_of(a: Party, b: Party) -> Party | None:
    """The business side of a business-person pair, else None."""
    if a.is_business and b.is_person:
        return a
    if b.is_business and a.is_person:
        return b
    return None


def business_and_person(conn: ExistingConnection, kinds: Mapping[int, str]) -> tuple[int, int] | None:
    """(business id, person id) when the connection joins a business and a person."""
    ck, rk = kinds.get(conn.client_id), kinds.get(conn.related_client_id)
    if ck is None or rk is None:
        return None
    if ck not in PERSON_KINDS and rk in PERSON_KINDS:
        return conn.client_id, conn.related_client_id
    if rk not in PERSON_KINDS and ck in PERSON_KINDS:
        return conn.related_client_id, conn.client_id
    return None


def next_primary(business_id: int, remaining: Iterable[ExistingConnection], kinds: Mapping[int, str]) -> int | None:
    """After the primary's connection is removed: the oldest remaining connection of the business with a
    person (ids grow with time), or None when no person is left."""
    candidates = [c.id for c in remaining if (bp := business_and_person(c, kinds)) and bp[0] == business_id]
    return min(candidates) if candidates else None


def primary_connection_for(business: Party, person: Party, connections: Iterable[ExistingConnection],
                           kinds: Mapping[int, str]) -> int:
    """Which connection to flag when `person` is made the primary contact of `business`."""
    if not business.is_business:
        raise ConnectionRefused("primary_needs_business", f"{business.name} is a {business.kind}: only a "
                                "business has a primary contact")
    if not person.is_person:
        raise ConnectionRefused("primary_needs_person", f"{person.name} is a {person.kind}: the primary contact "
                                "of a business is a person")
    ids = [c.id for c in connections
           if business_and_person(c, kinds) == (business.id, person.id)]
    if not ids:
        raise ConnectionRefused("primary_not_connected", f"{person.name} is not connected to {business.name}: "
                                "connect them first")
    return min(ids)
