"""Link state changes, each recorded as a link event (the link's history) and in the audit log.

    suggested --approve--> linked --unlink--> (unlinked: row kept as history, status rejected by operator)
    suggested --reject---> rejected            linked --remote gone--> broken --relink--> linked

The database refuses a second `linked` row for the same local or remote record; these functions check
first so the operator gets a message naming the conflicting record instead of an integrity error.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.errors import AdapterError, NotFound
from syncworker.domain.csvsafe import safe_writer
from syncworker.services.queries import client_by_external_id
from syncworker.services.tenants import get_tenant
from syncworker.store.crypto import SecretKeyError
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, Client, Link, LinkEvent, RemoteRecord, TenantSystem
from syncworker.store.types import utcnow

if TYPE_CHECKING:
    from syncworker.services.context import ServiceContext


class LinkError(ValueError):
    """The link change clashes with the current state (already linked, not a suggestion, ...)."""


class LinkNotFound(LinkError, LookupError):
    pass


def record_event(s: Session, link: Link, event: str, actor: str, from_status: str | None,
                 details: dict[str, Any] | None = None, run_id: int | None = None) -> None:
    s.add(LinkEvent(link_id=link.id, event=event, from_status=from_status, to_status=link.status, actor=actor,
                    details=details or {}))
    s.add(AuditEntry(tenant_id=link.tenant_id, actor=actor, origin="operator" if actor not in ("link-run", "sync")
                     else "local", target="local", entity="link", entity_id=str(link.id), action=event,
                     before={"status": from_status} if from_status else None,
                     after={"status": link.status, "client_id": link.client_id, "system": link.system,
                            "remote_id": link.remote_id}, run_id=run_id))


def linked_row_for_local(s: Session, tenant_id: int, system: str, client_id: int) -> Link | None:
    return s.scalar(select(Link).where(Link.tenant_id == tenant_id, Link.system == system,
                                       Link.client_id == client_id, Link.status == "linked"))


def linked_row_for_remote(s: Session, tenant_id: int, system: str, remote_id: str) -> Link | None:
    return s.scalar(select(Link).where(Link.tenant_id == tenant_id, Link.system == system,
                                       Link.remote_id == remote_id, Link.status == "linked"))


def remote_hash(s: Session, tenant_id: int, system: str, remote_id: str) -> str | None:
    return s.scalar(select(RemoteRecord.payload_hash).where(
        RemoteRecord.tenant_id == tenant_id, RemoteRecord.system == system, RemoteRecord.record_type == "client",
        RemoteRecord.remote_id == remote_id))


def make_linked(s: Session, *, tenant_id: int, system: str, client: Client, remote_id: str, method: str, actor: str,
                score: float | None = None, reasons: list[str] | None = None, existing: Link | None = None,
                run_id: int | None = None) -> Link:
    other = linked_row_for_local(s, tenant_id, system, client.id)
    if other is not None and other is not existing:
        raise LinkError(f"client {client.external_id} is already linked to {system} record {other.remote_id}; "
                        "unlink it first")
    taken = linked_row_for_remote(s, tenant_id, system, remote_id)
    if taken is not None and taken is not existing:
        holder = s.get(Client, taken.client_id)
        raise LinkError(f"{system} record {remote_id} is already linked to client "
                        f"{holder.external_id if holder else taken.client_id}; unlink it first")
    now = utcnow()
    link = existing or Link(tenant_id=tenant_id, system=system, client_id=client.id, remote_id=remote_id,
                            reasons=[], status="suggested")
    before = link.status if existing is not None else None
    link.status, link.method, link.decided_by, link.decided_at, link.run_id = "linked", method, actor, now, run_id
    if score is not None:
        link.score = score
    if reasons is not None:
        link.reasons = reasons
    link.local_version_at_decision = client.version
    link.remote_hash_at_decision = remote_hash(s, tenant_id, system, remote_id)
    s.add(link)
    s.flush()
    event = {None: "linked", "suggested": "approved", "broken": "relinked"}.get(before, "relinked")
    record_event(s, link, event, actor, before, {"score": score, "method": method}, run_id)
    # Other open suggestions for either record are moot now.
    for stale in s.scalars(select(Link).where(
            Link.tenant_id == tenant_id, Link.system == system, Link.status == "suggested", Link.id != link.id,
            (Link.client_id == client.id) | (Link.remote_id == remote_id))):
        s.delete(stale)
    return link


def _tenant_link(s: Session, tenant_id: int, link_id: int) -> Link:
    link = s.get(Link, link_id)
    if link is None or link.tenant_id != tenant_id:
        raise LinkNotFound(f"no link or suggestion with id {link_id} in this tenant")
    return link


def _pending_suggestion(s: Session, tenant_id: int, link_id: int) -> Link:
    link = _tenant_link(s, tenant_id, link_id)
    if link.status != "suggested":
        raise LinkError(f"link {link_id} is {link.status}, not a suggestion awaiting review")
    return link


def approve(db: Database, tenant_name: str, link_id: int, actor: str) -> dict[str, Any]:
    from syncworker.services.duplicates import merge_required_client_ids

    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        link = _pending_suggestion(s, tenant.id, link_id)
        client = s.get(Client, link.client_id)
        assert client is not None
        if client.id in merge_required_client_ids(s, tenant.id):
            raise LinkError(f"client {client.external_id} has unresolved duplicates: merge them first "
                            "(see `syncworker duplicates list`)")
        make_linked(s, tenant_id=tenant.id, system=link.system, client=client, remote_id=link.remote_id,
                    method="manual", actor=actor, existing=link)
        return link_dict(s, link)


def reject(db: Database, tenant_name: str, link_id: int, actor: str) -> dict[str, Any]:
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        link = _pending_suggestion(s, tenant.id, link_id)
        client = s.get(Client, link.client_id)
        link.status, link.decided_by, link.decided_at = "rejected", actor, utcnow()
        # Remember both records as they were: the pair is suggested again only if one of them changes.
        link.local_version_at_decision = client.version if client else None
        link.remote_hash_at_decision = remote_hash(s, tenant.id, link.system, link.remote_id)
        record_event(s, link, "rejected", actor, "suggested")
        return link_dict(s, link)


def link_manually(db: Database, tenant_name: str, client_external_id: str, system: str, remote_id: str,
                  actor: str) -> dict[str, Any]:
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        client = client_by_external_id(s, tenant.id, client_external_id)
        existing = s.scalar(select(Link).where(
            Link.tenant_id == tenant.id, Link.system == system, Link.client_id == client.id,
            Link.remote_id == remote_id, Link.status.in_(("suggested", "broken", "rejected"))).order_by(Link.id.desc()))
        link = make_linked(s, tenant_id=tenant.id, system=system, client=client, remote_id=remote_id, method="manual",
                           actor=actor, existing=existing)
        return link_dict(s, link)


def link_checked(ctx: ServiceContext, tenant_name: str, client_external_id: str, system: str, remote_id: str,
                 actor: str) -> dict[str, Any]:
    """An operator's manual link (CLI, HTTP, console): `link_manually` once `remote_id` is known to name a
    client of `system`, so a typo never becomes a link that every sync then fails on."""
    check_remote_client(ctx, tenant_name, system, remote_id)
    return link_manually(ctx.db, tenant_name, client_external_id, system, remote_id, actor)


def check_remote_client(ctx: ServiceContext, tenant_name: str, system: str, remote_id: str) -> None:
    """Refuse unless the tenant is connected to `system` and `remote_id` is one of its clients: in the
    records cache (not deleted), or else as the system answers a read by id (one API call)."""
    with ctx.db.read() as s:
        tenant = get_tenant(s, tenant_name)
        status = s.scalar(select(TenantSystem.status).where(TenantSystem.tenant_id == tenant.id,
                                                            TenantSystem.system == system))
        cached = s.scalar(select(RemoteRecord.remote_status).where(
            RemoteRecord.tenant_id == tenant.id, RemoteRecord.system == system,
            RemoteRecord.record_type == "client", RemoteRecord.remote_id == remote_id))
    if status in (None, "disconnected"):
        raise LinkError(f"tenant {tenant_name!r} is not connected to {system}: run `syncworker connect {system}` "
                        "first")
    if cached == "deleted":
        raise RemoteUnknown(f"no {system} client with id {remote_id!r}: it was deleted in {system}")
    if cached is not None:
        return
    try:
        found = ctx.adapter(tenant.id, system).get_client(remote_id)
    except (NotFound, ValueError):
        found = None  # an id the system does not know, or cannot even be one of its ids
    except (AdapterError, SecretKeyError) as exc:
        raise LinkError(f"{system} client {remote_id!r} is not in the records cache and {system} cannot be asked "
                        f"now ({type(exc).__name__}): run a link run, or try again later") from None
    if found is None:
        raise RemoteUnknown(f"no {system} client with id {remote_id!r} (check the id, or search by name)")


class RemoteUnknown(LinkError, LookupError):
    pass


def unlink(db: Database, tenant_name: str, client_external_id: str, system: str, actor: str) -> dict[str, Any]:
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        client = client_by_external_id(s, tenant.id, client_external_id)
        link = linked_row_for_local(s, tenant.id, system, client.id) or s.scalar(select(Link).where(
            Link.tenant_id == tenant.id, Link.system == system, Link.client_id == client.id,
            Link.status == "broken"))
        if link is None:
            raise LinkError(f"client {client_external_id} is not linked to {system}")
        before = link.status
        # An operator's unlink is a decision about this pair: kept as a rejected row, so runs do not
        # re-link it automatically unless one of the records changes.
        link.status, link.decided_by, link.decided_at = "rejected", actor, utcnow()
        link.local_version_at_decision = client.version
        link.remote_hash_at_decision = remote_hash(s, tenant.id, system, link.remote_id)
        record_event(s, link, "unlinked", actor, before)
        return link_dict(s, link)


def link_dict(s: Session, link: Link) -> dict[str, Any]:
    remote = s.scalar(select(RemoteRecord.payload).where(
        RemoteRecord.tenant_id == link.tenant_id, RemoteRecord.system == link.system,
        RemoteRecord.record_type == "client", RemoteRecord.remote_id == link.remote_id))
    return _link_row(link, s.get(Client, link.client_id), (remote or {}).get("name"))


def _link_row(link: Link, client: Client | None, remote_name: str | None) -> dict[str, Any]:
    return {
        "id": link.id, "local_id": client.external_id if client else None,
        "local_name": client.display_name if client else None, "system": link.system, "remote_id": link.remote_id,
        "remote_name": remote_name, "status": link.status,
        "score": round(link.score, 4) if link.score is not None else None, "method": link.method,
        "reasons": link.reasons, "decided_by": link.decided_by,
        "decided_at": link.decided_at.isoformat(timespec="seconds") if link.decided_at else None,
    }


def list_links(db: Database, tenant_name: str, *, system: str | None = None, status: str | None = None,
               limit: int | None = None) -> list[dict[str, Any]]:
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        q = select(Link).where(Link.tenant_id == tenant.id)
        if system:
            q = q.where(Link.system == system)
        if status:
            q = q.where(Link.status == status)
        q = q.order_by(Link.id)
        if limit:
            q = q.limit(limit)
        links = list(s.scalars(q))
        # Two queries for the whole list, not two per link: an export covers every link of a practice.
        clients = {c.id: c for c in s.scalars(select(Client).where(Client.id.in_({lk.client_id for lk in links})))}
        names = {(system, rid): (payload or {}).get("name") for system, rid, payload in s.execute(
            select(RemoteRecord.system, RemoteRecord.remote_id, RemoteRecord.payload).where(
                RemoteRecord.tenant_id == tenant.id, RemoteRecord.record_type == "client",
                RemoteRecord.remote_id.in_({lk.remote_id for lk in links})))}
        return [_link_row(lk, clients.get(lk.client_id), names.get((lk.system, lk.remote_id))) for lk in links]


def link_history(db: Database, tenant_name: str, link_id: int) -> list[dict[str, Any]]:
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        _tenant_link(s, tenant.id, link_id)
        return [{"at": e.at.isoformat(timespec="seconds"), "event": e.event, "from": e.from_status, "to": e.to_status,
                 "actor": e.actor} for e in s.scalars(select(LinkEvent).where(LinkEvent.link_id == link_id)
                                                       .order_by(LinkEvent.id))]


def export_links_csv(db: Database, tenant_name: str, system: str | None = None) -> str:
    buf = io.StringIO()
    writer = safe_writer(buf, lineterminator="\n")
    writer.writerow(["local_id", "remote_id", "status", "score", "method"])
    for link in list_links(db, tenant_name, system=system):
        writer.writerow([link["local_id"], link["remote_id"], link["status"],
                         "" if link["score"] is None else link["score"], link["method"]])
    return buf.getvalue()
