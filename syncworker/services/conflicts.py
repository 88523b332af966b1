"""The conflict queue: fields changed on both sides under a "manual" rule wait here with base, local and
remote values until an operator picks one.

A resolution is applied to the local record at once (audited) and the field's base is set to the remote
value the conflict saw. The next sync then finds only the local side changed and pushes the choice; if the
remote changed again in the meantime, both sides differ from the base and the field is queued again,
which is right: the operator decided without seeing that change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from syncworker.domain.profile import SYNCABLE_FIELDS
from syncworker.domain.sync import decode, encode, normalise
from syncworker.services.context import ServiceContext
from syncworker.services.relationship_store import CONFLICT_PREFIX
from syncworker.services.relationship_sync import settle_relationship_conflict
from syncworker.services.sync_store import column_value, field_digest, local_column
from syncworker.services.systems import UnknownSystem, check_system
from syncworker.services.tenants import get_tenant
from syncworker.store.crypto import shown_value
from syncworker.store.db import Database
from syncworker.store.mapping import json_ready
from syncworker.store.models import AuditEntry, Client, FieldSyncState, JobRun, Link, SyncConflict
from syncworker.store.types import utcnow

TAKES = ("local", "remote")


class ConflictError(ValueError):
    pass


def list_conflicts(db: Database, tenant_name: str, *, status: str | None = "open", system: str | None = None,
                   limit: int | None = None, client: str | None = None, field: str | None = None,
                   run_id: int | None = None) -> list[dict[str, Any]]:
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        q = _select(tenant.id, status=status, system=system, client=client, field=field, run_id=run_id)
        if limit:
            q = q.limit(limit)
        return [conflict_dict(c, link, row) for c, link, row in s.execute(q).all()]


def _select(tenant_id: int, *, status: str | None, system: str | None, client: str | None, field: str | None,
            run_id: int | None) -> Any:
    q = select(SyncConflict, Link, Client).join(Link, Link.id == SyncConflict.link_id) \
        .join(Client, Client.id == Link.client_id).where(SyncConflict.tenant_id == tenant_id)
    for column, value in ((SyncConflict.status, status), (Link.system, system), (Client.external_id, client),
                          (SyncConflict.field, field), (SyncConflict.run_id, run_id)):
        if value is not None:
            q = q.where(column == value)
    return q.order_by(SyncConflict.link_id, SyncConflict.id)


def review_items(db: Database, tenant_name: str, *, status: str | None = "open", system: str | None = None,
                 run_id: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """One review item per linked client: its conflicting fields side by side (local, remote, base) with
    the reason each is there, so an operator decides per client instead of per field."""
    items: dict[int, dict[str, Any]] = {}
    for c in list_conflicts(db, tenant_name, status=status, system=system, run_id=run_id):
        item = items.get(c["link_id"])
        if item is None:
            if limit and len(items) >= limit:
                break
            item = items[c["link_id"]] = {k: c[k] for k in ("link_id", "system", "local_id", "local_name",
                                                            "remote_id")} | {"fields": [], "runs": []}
        item["fields"].append({k: c[k] for k in ("id", "field", "local", "remote", "base", "reason", "status",
                                                 "resolution")})
        if c["run_id"] is not None and c["run_id"] not in item["runs"]:
            item["runs"].append(c["run_id"])
    return list(items.values())


def conflict_dict(c: SyncConflict, link: Link, client: Client) -> dict[str, Any]:
    """A conflict as operators see it. A tax file number's values show as their last digits (`******789`),
    enough to tell the sides apart; `take local|remote` settles it without anyone reading the number."""
    def shown(value: Any) -> Any:
        return shown_value(c.field, value)

    return {
        "id": c.id, "kind": "profile" if c.field in SYNCABLE_FIELDS else c.field.partition(":")[0],
        "status": c.status, "system": link.system, "link_id": link.id, "run_id": c.run_id, "reason": c.reason,
        "local_id": client.external_id,
        "local_name": client.display_name, "remote_id": link.remote_id, "field": c.field,
        "base": shown(decode(c.base_value)), "local": shown(decode(c.local_value)),
        "remote": shown(decode(c.remote_value)), "resolution": c.resolution,
        "resolved_value": shown(decode(c.resolved_value)), "resolved_by": c.resolved_by,
        "created_at": c.created_at.isoformat(timespec="seconds"),
        "resolved_at": c.resolved_at.isoformat(timespec="seconds") if c.resolved_at else None,
    }


def resolve_conflict(ctx: ServiceContext, tenant_name: str, conflict_id: int, *, take: str | None = None,
                     value: Any = None, actor: str = "operator") -> dict[str, Any]:
    """Settle a conflict with the local value, the remote value (`take`) or a value of the operator's own
    (`value`). Returns the conflict as resolved; the next sync propagates it. Relationship conflicts
    (queued by the relationship sync in the same table) are settled as the relationship sync reads them."""
    if (take is None) == (value is None):
        raise ConflictError("give exactly one of --take local|remote or --value")
    if take is not None and take not in TAKES:
        raise ConflictError(f"--take must be one of {', '.join(TAKES)}")
    with ctx.db.session() as s:
        tenant = get_tenant(s, tenant_name)
        row = s.execute(_select(tenant.id, status=None, system=None, client=None, field=None, run_id=None)
                        .where(SyncConflict.id == conflict_id)).first()
        if row is None:
            raise ConflictError(f"no conflict with id {conflict_id} in this tenant")
        c, link, client = row
        if c.field not in SYNCABLE_FIELDS and take is None:
            raise ConflictError("a relationship conflict is settled with --take local|remote, not a value")
        return _settle(s, c, link, client, take, value, actor)


def resolve_many(ctx: ServiceContext, tenant_name: str, take: str, *, client: str | None = None,
                 field: str | None = None, run_id: int | None = None, system: str | None = None,
                 all_open: bool = False, actor: str = "operator") -> dict[str, Any]:
    """Take one side for every open conflict chosen by client (local id), field, run and/or system
    (`all_open` when none of them: every open conflict of the tenant). Each conflict is settled and audited
    as `resolve_conflict` does, and the whole decision is one more audit entry naming what was chosen, all
    in one transaction: a bulk resolution is applied whole or not at all. A filter that names nothing in the
    tenant (an unknown client, field, run or system) is refused rather than settling nothing."""
    if take not in TAKES:
        raise ConflictError(f"take must be one of {', '.join(TAKES)}")
    chosen = {"client": client, "field": field, "run_id": run_id, "system": system}
    if all(v is None for v in chosen.values()) and not all_open:
        raise ConflictError("say which conflicts: a client, a field, a run or a system (or all open conflicts)")
    with ctx.db.session() as s:
        tenant = get_tenant(s, tenant_name)
        _check_filters(s, tenant.id, **chosen)
        rows = s.execute(_select(tenant.id, status="open", **chosen)).all()
        resolved = [_settle(s, c, link, row, take, None, actor) for c, link, row in rows]
        s.add(AuditEntry(tenant_id=tenant.id, actor=actor, origin="operator", target="local", entity="conflict",
                         entity_id="bulk", action="resolve_bulk", before=None,
                         after={"take": take, **{k: v for k, v in chosen.items() if v is not None},
                                "conflicts": [c["id"] for c in resolved]}))
    return {"take": take, "resolved": len(resolved), "clients": len({c["local_id"] for c in resolved}),
            "conflicts": resolved}


def _check_filters(s: Session, tenant_id: int, *, client: str | None, field: str | None, run_id: int | None,
                   system: str | None) -> None:
    """One line naming a filter that cannot match anything of this tenant (a typo must not settle nothing
    and look done)."""
    if field is not None and field not in SYNCABLE_FIELDS and not field.startswith(CONFLICT_PREFIX):
        raise ConflictError(f"{field!r} is not a synced field (one of {', '.join(SYNCABLE_FIELDS)}, "
                            f"or {CONFLICT_PREFIX}<id>)")
    if system is not None:
        try:
            check_system(system)
        except UnknownSystem as exc:
            raise ConflictError(str(exc)) from None
    if client is not None and s.scalar(select(Client.id).where(Client.tenant_id == tenant_id,
                                                               Client.external_id == client)) is None:
        raise ConflictError(f"no client with id {client!r} in this tenant")
    if run_id is not None and s.scalar(select(JobRun.id).where(JobRun.tenant_id == tenant_id, JobRun.id == run_id)) is None:
        raise ConflictError(f"no run with id {run_id} in this tenant")


def _settle(s: Session, c: SyncConflict, link: Link, client: Client, take: str | None, value: Any,
            actor: str) -> dict[str, Any]:
    """Settle one conflict inside the caller's unit of work: the local record takes the chosen value
    (audited), the base becomes the remote value the conflict saw, and the pair is merged on the next sync."""
    if c.status != "open":
        raise ConflictError(f"conflict {c.id} is already resolved ({c.resolution} by {c.resolved_by})")
    if c.field not in SYNCABLE_FIELDS:
        try:
            settle_relationship_conflict(s, c, str(take), actor)
        except ValueError as exc:
            raise ConflictError(str(exc)) from None
        return conflict_dict(c, link, client)
    column = local_column(c.field)
    current = getattr(client, column)
    # "local" keeps the record as it is now (it may have moved on since the conflict was queued);
    # "remote" takes the value the conflict saw, which is also the base set below.
    chosen = current if take == "local" else decode(c.remote_value) if take == "remote" else value
    try:
        new_value = column_value(c.field, chosen)
    except ValueError as exc:
        raise ConflictError(f"not a valid {c.field}: {exc}") from None
    if normalise(c.field, current) != normalise(c.field, new_value):
        setattr(client, column, new_value)
        s.add(AuditEntry(tenant_id=c.tenant_id, actor=actor, origin="operator", target="local", entity="client",
                         entity_id=client.external_id, action="update",
                         before=json_ready({c.field: current}), after=json_ready({c.field: new_value})))
    _set_base(s, c)
    link.last_pushed_version = None  # the pair is merged on the next sync, whatever else changed
    c.status, c.resolution, c.resolved_by, c.resolved_at = "resolved", take or "custom", actor, utcnow()
    c.resolved_value = encode(new_value)
    s.add(AuditEntry(tenant_id=c.tenant_id, actor=actor, origin="operator", target="local", entity="conflict",
                     entity_id=str(c.id), action="resolve", before=None,
                     after={"field": c.field, "resolution": c.resolution, "value": decode(c.resolved_value)}))
    s.flush()
    return conflict_dict(c, link, client)


def _set_base(s: Session, c: SyncConflict) -> None:
    """The base becomes the remote value the conflict saw: the next merge then sees only local changed."""
    row = s.scalar(select(FieldSyncState).where(FieldSyncState.link_id == c.link_id, FieldSyncState.field == c.field))
    remote = decode(c.remote_value)
    digest = field_digest(s, c.field, remote)
    if row is None:
        s.add(FieldSyncState(link_id=c.link_id, field=c.field, base_value=c.remote_value, base_hash=digest,
                             source="remote", synced_at=utcnow()))
    else:
        row.base_value, row.base_hash, row.source, row.synced_at = c.remote_value, digest, "remote", utcnow()
