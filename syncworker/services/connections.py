"""Connections between clients: add, list, remove, change a business's primary contact.

A connection is one row holding both sides (its description on each record), so creating it creates both
sides and deleting it from either side deletes both, in one transaction. The rules are in
`syncworker.domain.connections`; this module loads the parties, asks the rules, writes and audits.
The `*_in` functions work inside a caller's session (the relationship sync uses them with origin "xpm").
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from syncworker.config import load_yaml_config
from syncworker.domain.connections import (
    ConnectionRefused,
    ExistingConnection,
    Party,
    RelationshipTypes,
    business_and_person,
    next_primary,
    plan_connection,
    primary_connection_for,
)
from syncworker.services.portal import end_connection_access
from syncworker.services.tenants import get_tenant
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, Client, Connection, Contact, Tenant

__all__ = ["ConnectionRefused", "add_connection", "list_connections", "remove_connection", "set_primary_contact"]


@functools.cache
def relationship_types() -> RelationshipTypes:
    return RelationshipTypes.from_mapping(load_yaml_config("relationships.yaml"))


def allow_business_connections(tenant: Tenant) -> bool:
    value = (tenant.settings or {}).get("allow_business_connections")
    return relationship_types().allow_business_connections if value is None else bool(value)


# --- loading parties ---
def party(s: Session, tenant_id: int, ref: str) -> tuple[Party, Client | None]:
    """The client with external id `ref`; a contact with that id comes back as a non-client party so the
    rules can refuse it with the right message."""
    client = s.scalar(select(Client).where(Client.tenant_id == tenant_id, Client.external_id == ref))
    if client is not None:
        return client_party(s, client), client
    contact = s.scalar(select(Contact).where(Contact.tenant_id == tenant_id, Contact.external_id == ref))
    if contact is not None:
        return Party(id=-contact.id, name=contact.name, kind=None, is_client=False), None
    raise LookupError(f"no client with id {ref!r} in this tenant")


def client_party(s: Session, client: Client) -> Party:
    merged = s.get(Client, client.merged_into_id).external_id if client.merged_into_id else None  # type: ignore[union-attr]
    return Party(id=client.id, name=client.display_name, kind=client.kind, merged_into=merged)


def _existing(rows: list[Connection]) -> list[ExistingConnection]:
    return [ExistingConnection(c.id, c.client_id, c.related_client_id, c.relationship_type, c.is_primary_contact)
            for c in rows]


def connections_touching(s: Session, *client_ids: int) -> list[Connection]:
    return list(s.scalars(select(Connection).where(or_(
        Connection.client_id.in_(client_ids), Connection.related_client_id.in_(client_ids))).order_by(Connection.id)))


def _kinds(s: Session, rows: list[Connection]) -> dict[int, str]:
    ids = {c.client_id for c in rows} | {c.related_client_id for c in rows}
    return dict(s.execute(select(Client.id, Client.kind).where(Client.id.in_(ids))).all()) if ids else {}


def _businesses_with_primary(s: Session, rows: list[Connection]) -> set[int]:
    kinds = _kinds(s, rows)
    out = set()
    for c in rows:
        bp = business_and_person(_existing([c])[0], kinds)
        if c.is_primary_contact and bp:
            out.add(bp[0])
    return out


# --- writing ---
def create_connection_in(
    s: Session, tenant: Tenant, client: Party, related: Party, type_key: str | None, *, actor: str,
    origin: str = "operator", description: str | None = None, related_description: str | None = None,
    run_id: int | None = None,
) -> Connection:
    touching = connections_touching(s, client.id, related.id) if client.is_client and related.is_client else []
    plan = plan_connection(
        client, related, type_key, relationship_types(), _existing(touching), description=description,
        related_description=related_description, allow_business_connections=allow_business_connections(tenant),
        business_ids_with_primary=_businesses_with_primary(s, touching),
    )
    conn = Connection(tenant_id=tenant.id, client_id=plan.client_id, related_client_id=plan.related_client_id,
                      relationship_type=plan.type, description=plan.description,
                      related_description=plan.related_description, is_primary_contact=plan.is_primary_contact)
    s.add(conn)
    s.flush()
    _audit(s, tenant.id, actor, origin, conn, "create", None, connection_state(conn), run_id)
    return conn


def delete_connection_in(s: Session, conn: Connection, *, actor: str, origin: str = "operator",
                         run_id: int | None = None) -> dict[str, Any]:
    """Delete the connection (both sides are this one row) and, if it carried a business's primary contact,
    hand that over to the next person connected to the business."""
    before = connection_state(conn)
    promoted = None
    if conn.is_primary_contact:
        kinds = _kinds(s, [conn])
        bp = business_and_person(_existing([conn])[0], kinds)
        if bp is not None:
            rest = [c for c in connections_touching(s, bp[0]) if c.id != conn.id]
            nxt = next_primary(bp[0], _existing(rest), _kinds(s, rest))
            promoted = next((c for c in rest if c.id == nxt), None)
    end_connection_access(s, conn.id, actor)  # a spouse invited through this connection loses the portal
    s.delete(conn)
    s.flush()
    _audit(s, conn.tenant_id, actor, origin, conn, "delete", before, None, run_id)
    if promoted is not None:
        _set_primary_flag(s, promoted, True, actor, origin, run_id)
    return before


def _set_primary_flag(s: Session, conn: Connection, value: bool, actor: str, origin: str,
                      run_id: int | None = None) -> None:
    if conn.is_primary_contact == value:
        return
    before = connection_state(conn)
    conn.is_primary_contact = value
    conn.version += 1
    s.flush()
    _audit(s, conn.tenant_id, actor, origin, conn, "update", before, connection_state(conn), run_id)


def connection_state(conn: Connection) -> dict[str, Any]:
    return {"client_id": conn.client_id, "related_client_id": conn.related_client_id,
            "type": conn.relationship_type, "description": conn.description,
            "related_description": conn.related_description, "primary_contact": conn.is_primary_contact}


def _audit(s: Session, tenant_id: int, actor: str, origin: str, conn: Connection, action: str,
           before: dict[str, Any] | None, after: dict[str, Any] | None, run_id: int | None) -> None:
    s.add(AuditEntry(tenant_id=tenant_id, actor=actor, origin=origin, target="local", entity="connection",
                     entity_id=str(conn.id), action=action, before=before, after=after, run_id=run_id))


# --- use cases ---
def add_connection(db: Database, tenant_name: str, client_ref: str, related_ref: str, type_key: str | None = None,
                   *, description: str | None = None, related_description: str | None = None,
                   actor: str = "operator") -> dict[str, Any]:
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        client, _ = party(s, tenant.id, client_ref)
        related, _ = party(s, tenant.id, related_ref)
        conn = create_connection_in(s, tenant, client, related, type_key, actor=actor, description=description,
                                    related_description=related_description)
        return connection_dict(s, conn)


def list_connections(db: Database, tenant_name: str, client_ref: str | None = None) -> list[dict[str, Any]]:
    """Every connection of the tenant, or those of one client seen from that client's record."""
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        if client_ref is None:
            rows = s.scalars(select(Connection).where(Connection.tenant_id == tenant.id).order_by(Connection.id))
            return [connection_dict(s, c) for c in rows]
        _, client = party(s, tenant.id, client_ref)
        if client is None:
            raise ConnectionRefused("not_a_client", f"{client_ref} is a contact, not a client: contacts have no "
                                    "connections")
        return [connection_dict(s, c, seen_from=client.id) for c in connections_touching(s, client.id)]


def _find(s: Session, tenant: Tenant, connection_id: int | None, client_ref: str | None, related_ref: str | None,
          type_key: str | None) -> Connection:
    if connection_id is not None:
        conn = s.get(Connection, connection_id)
        if conn is None or conn.tenant_id != tenant.id:
            raise LookupError(f"no connection with id {connection_id} in this tenant")
        return conn
    if not client_ref or not related_ref:
        raise ConnectionRefused("which", "say which connection: its id, or both clients")
    _, a = party(s, tenant.id, client_ref)
    _, b = party(s, tenant.id, related_ref)
    if a is None or b is None:
        raise ConnectionRefused("not_a_client", "contacts have no connections: name two clients")
    rows = [c for c in connections_touching(s, a.id) if {c.client_id, c.related_client_id} == {a.id, b.id}]
    if type_key:
        key = relationship_types().get(type_key).key
        rows = [c for c in rows if c.relationship_type == key]
    if not rows:
        raise LookupError(f"no connection between {client_ref} and {related_ref}"
                          + (f" of type {type_key}" if type_key else ""))
    if len(rows) > 1:
        raise ConnectionRefused("ambiguous", f"{client_ref} and {related_ref} are connected "
                                f"{len(rows)} ways ({', '.join(c.relationship_type for c in rows)}): "
                                "say which type, or give the connection id")
    return rows[0]


def remove_connection(db: Database, tenant_name: str, connection_id: int | None = None, *,
                      client_ref: str | None = None, related_ref: str | None = None, type_key: str | None = None,
                      actor: str = "operator") -> dict[str, Any]:
    """Delete a connection from either side: both records lose it at once."""
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        conn = _find(s, tenant, connection_id, client_ref, related_ref, type_key)
        shown = connection_dict(s, conn)
        delete_connection_in(s, conn, actor=actor)
        primary = [connection_dict(s, c) for c in connections_touching(s, conn.client_id, conn.related_client_id)
                   if c.is_primary_contact]
        return {"removed": shown, "primary_contacts": primary}


def set_primary_contact(db: Database, tenant_name: str, business_ref: str, person_ref: str,
                        actor: str = "operator") -> dict[str, Any]:
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        business, _ = party(s, tenant.id, business_ref)
        person, _ = party(s, tenant.id, person_ref)
        for p in (business, person):
            if not p.is_client:
                raise ConnectionRefused("not_a_client", f"{p.name} is a contact, not a client")
        rows = connections_touching(s, business.id)
        kinds = _kinds(s, rows)
        chosen = primary_connection_for(business, person, _existing(rows), kinds)
        for c in rows:  # clear first so the business never has two primaries, even for a moment
            if c.id != chosen and business_and_person(_existing([c])[0], kinds) and c.is_primary_contact:
                _set_primary_flag(s, c, False, actor, "operator")
        _set_primary_flag(s, next(c for c in rows if c.id == chosen), True, actor, "operator")
        return connection_dict(s, next(c for c in rows if c.id == chosen))


def connection_dict(s: Session, conn: Connection, seen_from: int | None = None) -> dict[str, Any]:
    client, related = s.get(Client, conn.client_id), s.get(Client, conn.related_client_id)
    assert client is not None and related is not None
    out: dict[str, Any] = {
        "id": conn.id, "client": client.external_id, "client_name": client.display_name,
        "related": related.external_id, "related_name": related.display_name, "type": conn.relationship_type,
        "description": conn.description, "related_description": conn.related_description,
        "primary_contact": conn.is_primary_contact,
    }
    if seen_from is not None:  # the connection as shown on one record: the other client and this side's text
        mine = conn.client_id == seen_from
        other = related if mine else client
        out.update(other=other.external_id, other_name=other.display_name,
                   shown_as=conn.description if mine else conn.related_description)
    return out
