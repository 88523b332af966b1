"""Client groups: related clients under the same ownership (Canopy, XPM). A client may be in several
groups. Every change is one transaction and is audited; a change that breaks a rule writes nothing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syncworker.domain.connections import ConnectionRefused
from syncworker.services.connections import party
from syncworker.services.tenants import get_tenant
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, Client, ClientGroupMember, ClientGroupRow, Tenant

MAX_NAME = 200


def _member_clients(s: Session, tenant_id: int, refs: Iterable[str]) -> list[Client]:
    out: list[Client] = []
    for ref in dict.fromkeys(refs):  # keeps order, drops repeats
        p, client = party(s, tenant_id, ref)
        if client is None:
            raise ConnectionRefused("not_a_client", f"{p.name} is a contact, not a client: only clients can be "
                                    "group members")
        if p.merged_into:
            raise ConnectionRefused("merged", f"{p.name} was merged into client {p.merged_into}: add that client")
        out.append(client)
    return out


def find_group(s: Session, tenant_id: int, ref: str | int) -> ClientGroupRow:
    """A group by name, else by id (a group may be named "2024")."""
    group = s.scalar(select(ClientGroupRow).where(ClientGroupRow.tenant_id == tenant_id,
                                                  ClientGroupRow.name == str(ref)))
    if group is None and (isinstance(ref, int) or str(ref).isdigit()):
        group = s.get(ClientGroupRow, int(ref))
        if group is not None and group.tenant_id != tenant_id:
            group = None
    if group is None:
        raise LookupError(f"no client group {ref!r} in this tenant")
    return group


def member_ids(s: Session, group_id: int) -> list[int]:
    return list(s.scalars(select(ClientGroupMember.client_id).where(ClientGroupMember.group_id == group_id)
                          .order_by(ClientGroupMember.added_at, ClientGroupMember.client_id)))


def _check_name(s: Session, tenant_id: int, name: str, exclude: int | None = None) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME:
        raise ConnectionRefused("group_name", f"a group needs a name of 1 to {MAX_NAME} characters")
    clash = s.scalar(select(ClientGroupRow.id).where(ClientGroupRow.tenant_id == tenant_id,
                                                     func.lower(ClientGroupRow.name) == name.lower()))
    if clash is not None and clash != exclude:
        raise ConnectionRefused("group_exists", f"a client group named {name!r} already exists (group {clash})")
    return name


def create_group_in(s: Session, tenant: Tenant, name: str, members: list[Client], *, actor: str,
                    origin: str = "operator", run_id: int | None = None) -> ClientGroupRow:
    group = ClientGroupRow(tenant_id=tenant.id, name=_check_name(s, tenant.id, name))
    s.add(group)
    s.flush()
    for c in members:
        s.add(ClientGroupMember(group_id=group.id, client_id=c.id))
    s.flush()
    _audit(s, tenant.id, actor, origin, group, "create", None, group_state(s, group), run_id)
    return group


def change_members_in(s: Session, group: ClientGroupRow, add: list[Client], remove: list[Client], *, actor: str,
                      origin: str = "operator", run_id: int | None = None, strict: bool = True) -> None:
    """Add and remove members. `strict` refuses adding a member twice or removing a non-member (operator
    requests); the sync passes False and gets the idempotent behaviour."""
    current = set(member_ids(s, group.id))
    if strict:
        already = [c.display_name for c in add if c.id in current]
        missing = [c.display_name for c in remove if c.id not in current]
        if already:
            raise ConnectionRefused("already_member", f"already in group {group.name!r}: {', '.join(already)}")
        if missing:
            raise ConnectionRefused("not_member", f"not in group {group.name!r}: {', '.join(missing)}")
        both = {c.id for c in add} & {c.id for c in remove}
        if both:
            raise ConnectionRefused("add_and_remove", "a client cannot be added and removed in the same change")
    before = group_state(s, group)
    added = [c for c in add if c.id not in current]
    removed = [c for c in remove if c.id in current]
    if not added and not removed:
        return
    for c in added:
        s.add(ClientGroupMember(group_id=group.id, client_id=c.id))
    for c in removed:
        row = s.get(ClientGroupMember, (group.id, c.id))
        if row is not None:
            s.delete(row)
    group.version += 1
    s.flush()
    _audit(s, group.tenant_id, actor, origin, group, "members", before, group_state(s, group), run_id)


def delete_group_in(s: Session, group: ClientGroupRow, *, actor: str, origin: str = "operator",
                    run_id: int | None = None) -> dict[str, Any]:
    before = group_state(s, group)
    s.delete(group)  # members go with it (ON DELETE CASCADE)
    s.flush()
    _audit(s, group.tenant_id, actor, origin, group, "delete", before, None, run_id)
    return before


def rename_group_in(s: Session, group: ClientGroupRow, name: str, *, actor: str, origin: str,
                    run_id: int | None = None) -> None:
    before = group_state(s, group)
    group.name = _check_name(s, group.tenant_id, name, exclude=group.id)
    group.version += 1
    s.flush()
    _audit(s, group.tenant_id, actor, origin, group, "update", before, group_state(s, group), run_id)


def group_state(s: Session, group: ClientGroupRow) -> dict[str, Any]:
    return {"name": group.name, "members": member_ids(s, group.id)}


def _audit(s: Session, tenant_id: int, actor: str, origin: str, group: ClientGroupRow, action: str,
           before: dict[str, Any] | None, after: dict[str, Any] | None, run_id: int | None) -> None:
    s.add(AuditEntry(tenant_id=tenant_id, actor=actor, origin=origin, target="local", entity="group",
                     entity_id=str(group.id), action=action, before=before, after=after, run_id=run_id))


def group_dict(s: Session, group: ClientGroupRow) -> dict[str, Any]:
    ids = member_ids(s, group.id)
    clients = {c.id: c for c in s.scalars(select(Client).where(Client.id.in_(ids)))} if ids else {}
    return {"id": group.id, "name": group.name,
            "members": [{"id": clients[i].external_id, "name": clients[i].display_name} for i in ids]}


# --- use cases ---
def add_group(db: Database, tenant_name: str, name: str, members: Iterable[str] = (),
              actor: str = "operator") -> dict[str, Any]:
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        group = create_group_in(s, tenant, name, _member_clients(s, tenant.id, members), actor=actor)
        return group_dict(s, group)


def list_groups(db: Database, tenant_name: str, client_ref: str | None = None) -> list[dict[str, Any]]:
    """Every group, or the groups one client is in."""
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        q = select(ClientGroupRow).where(ClientGroupRow.tenant_id == tenant.id)
        if client_ref is not None:
            client = _member_clients(s, tenant.id, [client_ref])[0]
            q = q.join(ClientGroupMember, ClientGroupMember.group_id == ClientGroupRow.id).where(
                ClientGroupMember.client_id == client.id)
        return [group_dict(s, g) for g in s.scalars(q.order_by(ClientGroupRow.name))]


def group_members(db: Database, tenant_name: str, group_ref: str, *, add: Iterable[str] = (),
                  remove: Iterable[str] = (), actor: str = "operator") -> dict[str, Any]:
    """Show a group's members, after adding and removing the given clients (all or nothing)."""
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        group = find_group(s, tenant.id, group_ref)
        adds, removes = _member_clients(s, tenant.id, add), _member_clients(s, tenant.id, remove)
        if adds or removes:
            change_members_in(s, group, adds, removes, actor=actor)
        return group_dict(s, group)


def remove_group(db: Database, tenant_name: str, group_ref: str, actor: str = "operator") -> dict[str, Any]:
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        group = find_group(s, tenant.id, group_ref)
        shown = group_dict(s, group)
        delete_group_in(s, group, actor=actor)
        return {"removed": shown}
