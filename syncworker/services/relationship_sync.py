"""Two-way sync of connections and client groups with a system's relationships and groups (XPM).

The same machinery as profiles, applied to sets:
- links find the remote ids: a relationship or member is only synced when its clients are linked;
- the records cache holds the last pulled state (`RemoteRecord`, record_type "relationship" / "group"),
  and next to it the base: the state both sides last agreed on (payload["base"]). Keeping the base in the
  same row needs no schema change and never touches the profile engine's `FieldSyncState` rows;
- a three-way comparison against the base tells who changed what: new on one side is created on the
  other, deleted on one side (present in the base) is deleted on the other, present on both is agreed;
- echo suppression: what was pushed or pulled becomes the base at once, so the next run sees agreement
  and writes nothing;
- conflicts: a relationship deleted locally while XPM changed it (dates, shares) since the base is not
  deleted but queued (`SyncConflict`, field "relationship:<uuid>" on the owner's link) until an operator
  resolves it: "local" deletes it in XPM, "remote" restores the connection locally.

A relationship or group member whose other client is not linked yet waits (reported as `waiting`); the
first run after the link exists completes it: from the cached snapshot when the owner was already fetched,
and by fetching the relationships of every newly linked client (a per-link marker row, record_type
"relationships", says whose relationships were fetched under which link).

Reads at the minimum: XPM lists a relationship on the client it was added to (ClientUUID side), and detailed
client records carry their `Relationships` and `Groups`. The shared pull (`services/pull.py`) keeps
detailed records in the records cache, so relationships and group members are taken from there: no call
per client. Only clients the cache has as summaries (the paged-list fall-back of a full load; APS's records
always) are read by id, `adapter.read_batch_size` a call (XPM: one `get_client` each; APS: the relationships
of a page of keys a query, the records being in the cache already), at most `max_fetches` calls a run, so a large XPM practice spreads them over runs and days
(the marker rows remember who was read). A connection is never pushed before both its clients'
relationships were read (XPM could hold it already). Group members come from the detailed records; the
group list (one call) is read daily and when the records show a membership change; without detailed records, groups are listed with their
members (1 + one call per group) daily. What we write is patched into the cached records at once, so the
cache never lags behind our own writes. A quiet practice costs no call here.

Connection facts are compared by `fact_key` (a symmetric type or an inverse pair is one fact whichever
side states it), so if XPM ever creates the inverse of a relationship itself, both rows pair with the one
local connection.

Where each part lives: this module is the entry point (the run frame, the pull, the job function, the
operator's conflict resolution); `services/relationship_reconcile.py` and `services/group_sync.py` do the
work for relationships and groups; `services/relationship_store.py` is the cache and the report;
`domain/relationship_sync.py` the decisions, on plain data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from adapters.base import ClientSystem
from adapters.http_core import usage_since
from syncworker.jobs.base import JobRequest
from syncworker.services.context import ServiceContext
from syncworker.services.group_sync import GroupSync
from syncworker.services.pull import pull_clients
from syncworker.services.relationship_reconcile import RelationshipSync
from syncworker.services.relationship_store import CONFLICT_PREFIX, RelationshipStore, RelationshipSyncReport
from syncworker.services.run_frame import RunRefused, guarded_run
from syncworker.services.runs import RunRecorder
from syncworker.services.systems import check_system
from syncworker.services.tenants import get_tenant
from syncworker.store.models import AuditEntry, SyncConflict
from syncworker.store.types import utcnow

__all__ = ["RelationshipSyncReport", "fold_relationship_report", "resolve_relationship_conflict",
           "run_relationship_sync_job", "settle_relationship_conflict", "sync_relationships"]


# --- entry point ----------------------------------------------------------------------------------------

def sync_relationships(
    ctx: ServiceContext, tenant_name: str, system: str = "xpm", *, run_id: int | None = None,
    adapter: ClientSystem | None = None, hold_lock: bool = True, full: bool = False, trigger: str = "cli",
    max_fetches: int = 200, read_groups: bool = True,
) -> RelationshipSyncReport:
    """Pull and push the tenant's relationships and groups.

    Standalone (CLI, job; `hold_lock=True`): a run of its own in the shared run frame (run record, refusals,
    tenant lock, adapter errors to a status; `run_id` is the executor's run, else a new one). Inside a
    run that already holds the lock (end of a link run or a profile sync, right after links may have
    changed): pass that run's `adapter` and `run_id` with `hold_lock=False`; the work then is part of the
    caller's, and adapter errors (the daily limit above all) propagate to the caller's frame: the caller has
    just pulled, so the cache is current. Standalone, the run pulls first (the shared incremental pull).
    `full=True` re-reads the relationships of every linked client; otherwise clients known only as summaries
    are read in at most `max_fetches` calls per run (`adapter.read_batch_size` clients a call).
    `read_groups=False` never lists groups with their members (1 + one call per group; only needed without
    detailed records): a link run leaves that to the syncs."""
    check_system(system)

    def work(report: RelationshipSyncReport) -> Callable[[int, ClientSystem, RunRecorder], None]:
        def run(tenant_id: int, adapter: ClientSystem, runs: RunRecorder) -> None:
            _sync(ctx, tenant_id, system, adapter, report, full=full, pull=hold_lock, max_fetches=max_fetches,
                  read_groups=read_groups)
        return run

    if hold_lock:
        return guarded_run(ctx, tenant_name, system, "relationship_sync", dry_run=False, trigger=trigger,
                           run_id=run_id, params={"system": system, "full": full},
                           make_report=lambda rid: RelationshipSyncReport(rid, tenant_name, system), work=work,
                           has_failures=lambda r: bool(r.errors))
    if adapter is None:
        raise ValueError("inside another run, pass that run's adapter (hold_lock=False)")
    with ctx.db.session() as s:
        tenant_id = get_tenant(s, tenant_name).id
    report = RelationshipSyncReport(run_id, tenant_name, system)
    before = dict(adapter.call_stats())
    work(report)(tenant_id, adapter, RunRecorder(ctx.db))
    report.api_calls = usage_since(before, dict(adapter.call_stats()))
    report.status = "partial" if report.errors else "succeeded"
    return report


def run_relationship_sync_job(ctx: ServiceContext, request: JobRequest, run_id: int) -> dict[str, Any]:
    """The executor's job function (kind "relationship_sync")."""
    p = request.params
    try:
        report = sync_relationships(ctx, request.tenant, str(p.get("system") or "xpm"), run_id=run_id,
                                    full=bool(p.get("full")), trigger=request.trigger)
    except RunRefused as exc:
        return {"status": "refused", "message": str(exc)}
    return {"status": report.status, "counts": report.counts}


def _sync(ctx: ServiceContext, tenant_id: int, system: str, adapter: ClientSystem, report: RelationshipSyncReport,
          *, full: bool, pull: bool, max_fetches: int, read_groups: bool) -> None:
    if pull:  # a run of its own: bring the records cache up to date (the shared incremental pull)
        pulled = pull_clients(ctx.db, tenant_id, system, adapter)
        report.add("clients_pulled", len(pulled.seen))
    store = RelationshipStore(tenant_id, system)
    if adapter.capabilities.relationships:
        RelationshipSync(ctx.db, store, adapter, report, max_fetches=max_fetches).run(full=full)
    if adapter.capabilities.groups:
        GroupSync(ctx.db, store, adapter, report, read_groups=read_groups).run(full=full)


def resolve_relationship_conflict(ctx: ServiceContext, tenant_name: str, conflict_id: int, take: str,
                                  actor: str = "operator") -> dict[str, Any]:
    """Settle a relationship conflict: "local" (the local deletion wins: XPM's copy is deleted by the next
    sync) or "remote" (XPM's copy wins: the connection comes back locally on the next sync)."""
    with ctx.db.session() as s:
        tenant = get_tenant(s, tenant_name)
        c = s.get(SyncConflict, conflict_id)
        if c is None or c.tenant_id != tenant.id or not c.field.startswith(CONFLICT_PREFIX):
            raise LookupError(f"no relationship conflict with id {conflict_id} in this tenant")
        return settle_relationship_conflict(s, c, take, actor)


def settle_relationship_conflict(s: Session, c: SyncConflict, take: str, actor: str) -> dict[str, Any]:
    """`resolve_relationship_conflict` inside the caller's unit of work (a bulk resolution settles many in
    one); the conflict must be a relationship conflict of the caller's tenant."""
    if take not in ("local", "remote"):
        raise ValueError("take must be local or remote")
    if c.status != "open":
        raise ValueError(f"conflict {c.id} is already resolved ({c.resolution})")
    c.status, c.resolution, c.resolved_by, c.resolved_at = "resolved", take, actor, utcnow()
    s.add(AuditEntry(tenant_id=c.tenant_id, actor=actor, origin="operator", target="local", entity="conflict",
                     entity_id=str(c.id), action="resolve", before=None, after={"field": c.field, "resolution": take}))
    return {"id": c.id, "field": c.field, "status": c.status, "resolution": take}


def fold_relationship_report(report: Any, rel: RelationshipSyncReport) -> None:
    """Add a relationship sync done inside another run to that run's report: counts prefixed
    `relationships_`, its failures to the run's errors."""
    for key, value in rel.counts.items():
        report.counts[f"relationships_{key}"] = report.counts.get(f"relationships_{key}", 0) + value
    report.counts["relationships_waiting"] = len(rel.waiting)
    report.errors.extend(rel.errors)
