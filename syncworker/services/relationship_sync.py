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
per client. Only clients the cache has as summaries (the paged-list fall-back of a full load) are read one
`get_client` each, at most `max_fetches` a run, so a large practice spreads them over runs and days
(the marker rows remember who was read). A connection is never pushed before both its clients'
relationships were read (XPM could hold it already). Group members come from the detailed records; the
group list (one call) is read daily and when the records show a membership change; without detailed records, groups are listed with their
members (1 + one call per group) daily. What we write is patched into the cached records at once, so the
cache never lags behind our own writes. A quiet practice costs no call here.

Connection facts are compared by `fact_key` (a symmetric type or an inverse pair is one fact whichever
side states it), so if XPM ever creates the inverse of a relationship itself, both rows pair with the one
local connection.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from adapters.base import ClientSystem
from adapters.errors import AdapterError, DailyLimitReached, NotFound, ReadOnly, ReconnectRequired
from adapters.http_core import usage_since
from syncworker.domain.connections import ConnectionRefused, RelationshipType, fact_key
from syncworker.domain.profile import ClientGroup, Relationship
from syncworker.domain.serialize import content_hash, relationship_from_dict, relationship_to_dict
from syncworker.jobs.base import JobRequest
from syncworker.services import connections as conn_svc
from syncworker.services import groups as group_svc
from syncworker.services.context import ServiceContext
from syncworker.services.pull import MISSING, pull_clients
from syncworker.services.run_frame import RunRefused, RunReport, guarded_run
from syncworker.services.runs import RunRecorder
from syncworker.services.snapshots import upsert_clients
from syncworker.services.systems import check_system
from syncworker.services.tenants import get_tenant
from syncworker.store.models import (
    AuditEntry,
    Checkpoint,
    Client,
    ClientGroupRow,
    Connection,
    Link,
    RemoteRecord,
    SyncConflict,
    Tenant,
)
from syncworker.store.types import utcnow

log = logging.getLogger(__name__)
ACTOR = "sync"
GROUP_STREAM = "groups.read"
GROUP_REFRESH = timedelta(hours=24)  # re-read the group list at least this often (empty groups, Taxable)
REL, GROUP, FETCHED = "relationship", "group", "relationships"
CONFLICT_PREFIX = "relationship:"
Key = tuple[int, int, str]


@dataclass
class RelationshipSyncReport(RunReport):  # run_id 0: not recorded as a run of its own
    waiting: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)


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
    `full=True` re-reads the relationships of every linked client; otherwise at most `max_fetches` clients
    known only as summaries are read per run (one call each). `read_groups=False` never lists groups with
    their members (1 + one call per group; only needed without detailed records): a link run leaves that
    to the syncs."""
    check_system(system)

    def work(report: RelationshipSyncReport) -> Callable[[int, ClientSystem, RunRecorder], None]:
        def run(tenant_id: int, adapter: ClientSystem, runs: RunRecorder) -> None:
            _Engine(ctx, tenant_id, system, adapter, report, max_fetches, read_groups).run(
                full=full, pull=hold_lock)
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


# --- helpers on the cache -------------------------------------------------------------------------------

rel_to_dict = relationship_to_dict


def group_to_dict(g: ClientGroup) -> dict[str, Any]:
    return {"id": g.id, "name": g.name, "member_ids": sorted(g.member_ids), "taxable": g.taxable}


def _hash(d: dict[str, Any]) -> str:
    return content_hash(d)


@dataclass
class _Links:
    by_remote: dict[str, int]  # remote id -> local client id
    by_local: dict[int, str]  # local client id -> remote id
    link_ids: dict[str, int]  # remote id -> link id


class _Engine:
    def __init__(self, ctx: ServiceContext, tenant_id: int, system: str, adapter: ClientSystem,
                 report: RelationshipSyncReport, max_fetches: int = 200, read_groups: bool = True) -> None:
        self.db, self.tenant_id, self.system, self.adapter, self.report = ctx.db, tenant_id, system, adapter, report
        self.types = conn_svc.relationship_types()
        self.max_fetches = max_fetches
        self.read_groups = read_groups

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A unit of work holding the write lock from its first statement. On SQLite a transaction that
        reads and then writes cannot wait for a writer that committed in between (the lease heartbeat): it
        fails at once with "database is locked". Taking the lock first makes it wait like any writer."""
        with self.db.session() as s:
            if s.get_bind().dialect.name == "sqlite":
                s.execute(text("UPDATE checkpoints SET id = id WHERE 0"))
            yield s

    def _links(self, s: Session) -> _Links:
        rows = s.execute(select(Link.id, Link.client_id, Link.remote_id).where(
            Link.tenant_id == self.tenant_id, Link.system == self.system, Link.status == "linked")).all()
        return _Links({r: c for _, c, r in rows}, {c: r for _, c, r in rows}, {r: i for i, _, r in rows})

    def _rows(self, s: Session, record_type: str) -> list[RemoteRecord]:
        return list(s.scalars(select(RemoteRecord).where(
            RemoteRecord.tenant_id == self.tenant_id, RemoteRecord.system == self.system,
            RemoteRecord.record_type == record_type).order_by(RemoteRecord.id)))

    def _tenant(self, s: Session) -> Tenant:
        tenant = s.get(Tenant, self.tenant_id)
        assert tenant is not None
        return tenant

    def _audit_remote(self, s: Session, entity: str, entity_id: str, action: str, before: Any, after: Any) -> None:
        # Every remote write is audited first: a system that takes none stops it here, before the log says so.
        if not self.adapter.capabilities.writes_relationships:
            raise ReadOnly(f"{self.system} takes no relationship or group writes")
        s.add(AuditEntry(tenant_id=self.tenant_id, actor=ACTOR, origin="local", target=self.system, entity=entity,
                         entity_id=entity_id, action=action, before=before, after=after, run_id=self.report.run_id))

    def _patch_snapshot(self, s: Session, remote_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Apply our own write to the cached detailed record, so the cache never lags behind what we wrote."""
        row = s.scalar(select(RemoteRecord).where(
            RemoteRecord.tenant_id == self.tenant_id, RemoteRecord.system == self.system,
            RemoteRecord.record_type == "client", RemoteRecord.remote_id == remote_id))
        if row is None or not (row.payload.get("extra") or {}).get("detailed"):
            return
        extra = dict(row.payload["extra"])
        change(extra)
        row.payload = {**row.payload, "extra": extra}
        if isinstance(extra.get("relationships"), list):
            marker = self._marker(s, remote_id)
            if marker is not None:
                digest = _hash({"relationships": extra["relationships"]})
                marker.payload = {**marker.payload, "source": digest}

    def _patch_membership(self, s: Session, group_id: str, name: str, add: list[str], remove: list[str]) -> None:
        def added(extra: dict[str, Any]) -> None:
            if group_id not in extra.get("group_ids", []):
                extra["group_ids"] = [*extra.get("group_ids", []), group_id]
                extra["groups"] = [*extra.get("groups", []), {"id": group_id, "name": name}]

        def removed(extra: dict[str, Any]) -> None:
            extra["group_ids"] = [g for g in extra.get("group_ids", []) if g != group_id]
            extra["groups"] = [g for g in extra.get("groups", []) if g.get("id") != group_id]

        for rid in add:
            self._patch_snapshot(s, rid, added)
        for rid in remove:
            self._patch_snapshot(s, rid, removed)

    # ==== relationships: pull ====
    def run(self, *, full: bool, pull: bool) -> None:
        if pull:  # a run of its own: bring the records cache up to date (the shared incremental pull)
            pulled = pull_clients(self.db, self.tenant_id, self.system, self.adapter)
            self.report.add("clients_pulled", len(pulled.seen))
        if self.adapter.capabilities.relationships:
            self.relationships(full=full)
        if self.adapter.capabilities.groups:
            self.groups(full=full)

    def relationships(self, *, full: bool) -> None:
        self._pull_relationships(full=full)
        self._reconcile_relationships()

    def _pull_relationships(self, *, full: bool) -> None:
        """Each linked client's relationships into the cache: from its detailed record when the cache has
        one (no call), else one detailed read (budgeted)."""
        with self._session() as s:
            links = self._links(s)
            markers = {r.remote_id: r.payload for r in self._rows(s, FETCHED)}
            snapshots = {r.remote_id: (r.payload.get("extra") or {}) for r in s.scalars(select(RemoteRecord).where(
                RemoteRecord.tenant_id == self.tenant_id, RemoteRecord.system == self.system,
                RemoteRecord.record_type == "client"))}
        pending = []
        for owner in sorted(links.by_remote):
            marker = markers.get(owner) or {}
            same_link = marker.get("link_id") == links.link_ids[owner]
            rels = _cached_relationships(snapshots.get(owner))
            if rels is not None:
                digest = _hash({"relationships": rels})
                if full or not same_link or marker.get("source") != digest:
                    with self._session() as s:
                        self._store_owner(s, owner, links.link_ids[owner],
                                          [relationship_from_dict(d) for d in rels], digest)
                    self.report.add("relationship_owners_from_cache")
            elif full or not same_link:
                pending.append(owner)
        # Clients the cache knows only as summaries cost one call each: a budget per run keeps a large
        # practice from spending the day's calls at once; the markers let the next runs (days) go on.
        budget = len(pending) if full else self.max_fetches
        if len(pending) > budget:
            self.report.add("relationship_owners_pending", len(pending) - budget)
        for owner in pending[:budget]:
            try:
                profile = self.adapter.get_client(owner)
                rels = _cached_relationships(profile.extra if profile is not None else {})
                fetched = ([relationship_from_dict(d) for d in rels] if rels is not None
                           else self.adapter.list_relationships(owner) if profile is not None else [])
            except NotFound:
                profile, fetched = None, []
            except (DailyLimitReached, ReconnectRequired):
                raise
            except AdapterError as exc:
                self.report.errors.append({"remote_id": owner, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
                continue
            with self._session() as s:
                if profile is not None:
                    upsert_clients(s, self.tenant_id, self.system, [profile])
                self._store_owner(s, owner, links.link_ids[owner], fetched,
                                  _hash({"relationships": [rel_to_dict(r) for r in fetched]}))
            self.report.add("relationship_owners_fetched")

    def _marker(self, s: Session, owner: str) -> RemoteRecord | None:
        """Whose relationships were read, under which link, and the ids they had (record_type FETCHED)."""
        return s.scalar(select(RemoteRecord).where(
            RemoteRecord.tenant_id == self.tenant_id, RemoteRecord.system == self.system,
            RemoteRecord.record_type == FETCHED, RemoteRecord.remote_id == owner))

    def _store_owner(self, s: Session, owner: str, link_id: int, fetched: list[Relationship], source: str) -> None:
        """The owner's relationships as XPM has them now: upsert each, mark the vanished ones deleted."""
        now = utcnow()
        marker = self._marker(s, owner)
        known = set(marker.payload.get("ids", [])) if marker is not None else set()
        known |= {r.id for r in fetched if r.id}
        rows = {r.remote_id: r for r in s.scalars(select(RemoteRecord).where(
            RemoteRecord.tenant_id == self.tenant_id, RemoteRecord.system == self.system,
            RemoteRecord.record_type == REL, RemoteRecord.remote_id.in_(sorted(known))))}
        seen = set()
        for rel in fetched:
            if not rel.id:
                continue
            seen.add(rel.id)
            d = rel_to_dict(rel)
            digest = _hash(d)
            row = rows.get(rel.id)
            if row is None:
                s.add(RemoteRecord(tenant_id=self.tenant_id, system=self.system, record_type=REL, remote_id=rel.id,
                                   payload={"relationship": d, "base": None}, payload_hash=digest,
                                   first_seen_at=now, last_seen_at=now, changed_at=now))
                continue
            row.last_seen_at = now
            if row.payload_hash != digest or row.remote_status != "active":
                row.payload = {**row.payload, "relationship": d}
                row.payload_hash, row.remote_status, row.changed_at = digest, "active", now
        for rid, row in rows.items():
            if rid not in seen and row.remote_status != "deleted":
                row.remote_status, row.changed_at = "deleted", now
        payload = {"link_id": link_id, "ids": sorted(seen), "source": source}
        if marker is None:
            s.add(RemoteRecord(tenant_id=self.tenant_id, system=self.system, record_type=FETCHED, remote_id=owner,
                               payload=payload, payload_hash=_hash(payload), first_seen_at=now, last_seen_at=now,
                               changed_at=now))
        else:
            marker.payload, marker.payload_hash, marker.last_seen_at = payload, _hash(payload), now

    # ==== relationships: reconcile ====
    def _reconcile_relationships(self) -> None:
        with self._session() as s:
            links = self._links(s)
            rows = [r for r in self._rows(s, REL)]
            conns = list(s.scalars(select(Connection).where(Connection.tenant_id == self.tenant_id)))
            held = self._settle_conflicts(s, rows, links)
            read = {m.remote_id for m in self._rows(s, FETCHED)
                    if m.payload.get("link_id") == links.link_ids.get(m.remote_id)}
        remote: dict[Key, list[RemoteRecord]] = {}
        frozen: set[Key] = set()
        for row in rows:
            base_key = _key_of(row.payload.get("base"))
            if row.remote_status != "active":
                continue
            key = self._remote_key(row, links)
            if key is None:
                if base_key:
                    frozen.add(base_key)  # was agreed, now a client is unlinked: leave both sides alone
                continue
            remote.setdefault(key, []).append(row)
        based: dict[Key, list[RemoteRecord]] = {}
        for row in rows:
            if (bk := _key_of(row.payload.get("base"))) is not None:
                based.setdefault(bk, []).append(row)
        local: dict[Key, Connection] = {}
        for c in conns:
            rtype = self.types.by_key.get(c.relationship_type)
            if rtype is None:
                continue
            key = fact_key(c.client_id, c.related_client_id, rtype)
            if c.client_id not in links.by_local or c.related_client_id not in links.by_local:
                if key in based:
                    frozen.add(key)
                elif rtype.xpm:
                    self._wait(c, links)
                continue
            unread = [cid for cid in (c.client_id, c.related_client_id) if links.by_local[cid] not in read]
            if unread and key not in remote and key not in based:
                # XPM may hold it already on a record not read yet: pushing now could add it twice.
                self.report.waiting.append({"connection_id": c.id, "type": c.relationship_type,
                                            "reason": f"relationships of client(s) {unread} not read from "
                                                      f"{self.system} yet"})
                self.report.add("waiting")
                continue
            local[key] = c
        for key in sorted(set(local) | set(remote) | set(based)):
            if key in held or key in frozen:
                continue
            try:
                self._reconcile_one(key, local.get(key), remote.get(key, []), based.get(key, []), links)
            except (DailyLimitReached, ReconnectRequired):
                raise
            except ReadOnly:
                self.report.add("kept_local_read_only")  # the system takes no such writes: not a failure
            except AdapterError as exc:
                self.report.errors.append({"relationship": list(key), "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
        with self._session() as s:  # vanished rows nobody needs any more
            for row in self._rows(s, REL):
                if row.remote_status == "deleted" and not row.payload.get("base") and not row.payload.get("conflict_id"):
                    s.delete(row)

    def _remote_key(self, row: RemoteRecord, links: _Links) -> Key | None:
        rel = row.payload["relationship"]
        owner, related = links.by_remote.get(rel["client_id"]), links.by_remote.get(rel["related_client_id"])
        rtype = self.types.by_key.get(rel["type"])
        if rtype is None:
            self.report.refused.append({"remote_id": row.remote_id, "reason": f"relationship type {rel['type']!r} "
                                        "is not in config/relationships.yaml"})
            return None
        if owner is None:
            return None  # its owner is not linked: fetched again once it is
        if related is None:
            self.report.waiting.append({"remote_id": row.remote_id, "type": rtype.key,
                                        "reason": f"{self.system} client {rel['related_client_id']} is not linked yet"})
            self.report.add("waiting")
            return None
        if owner == related:
            return None
        return fact_key(owner, related, rtype)

    def _wait(self, c: Connection, links: _Links) -> None:
        missing = [cid for cid in (c.client_id, c.related_client_id) if cid not in links.by_local]
        self.report.waiting.append({"connection_id": c.id, "type": c.relationship_type,
                                    "reason": f"client(s) {missing} not linked to {self.system} yet"})
        self.report.add("waiting")

    def _reconcile_one(self, key: Key, local: Connection | None, remote: list[RemoteRecord],
                       based: list[RemoteRecord], links: _Links) -> None:
        rtype = self.types.by_key[key[2]]
        if local is not None and remote:
            self._agree(local, remote, based)
        elif local is not None and based:
            self._delete_local(local.id, based)
        elif local is not None:
            self._push_new(local, rtype, links)
        elif remote and based:
            self._delete_remote(key, remote)
        elif remote:
            self._pull_new(remote, links)
        else:
            with self._session() as s:
                for row in based:
                    self._set_base(s, row.id, None)

    def _set_base(self, s: Session, row_id: int, base: dict[str, Any] | None, **extra: Any) -> None:
        row = s.get(RemoteRecord, row_id)
        if row is not None:
            row.payload = {**row.payload, "base": base, **extra}

    def _base_for(self, conn: Connection, row: RemoteRecord) -> dict[str, Any]:
        rtype = self.types.by_key[conn.relationship_type]
        return {"connection_id": conn.id, "key": list(fact_key(conn.client_id, conn.related_client_id, rtype)),
                "hash": row.payload_hash}

    def _agree(self, local: Connection, remote: list[RemoteRecord], based: list[RemoteRecord]) -> None:
        changed = False
        with self._session() as s:
            for row in based:  # a second XPM copy of the fact (e.g. its inverse) that is gone
                if row.remote_status != "active":
                    self._set_base(s, row.id, None)
            for row in remote:
                base = self._base_for(local, row)
                if row.payload.get("base") != base:
                    self._set_base(s, row.id, base)
                    changed = True
        self.report.add("relationships_agreed" if changed else "relationships_unchanged")

    def _delete_local(self, connection_id: int, based: list[RemoteRecord]) -> None:
        """Deleted in XPM since the base: delete here too (both sides, in one transaction with the base)."""
        with self._session() as s:
            conn = s.get(Connection, connection_id)
            if conn is not None:
                conn_svc.delete_connection_in(s, conn, actor=ACTOR, origin=self.system, run_id=self.report.run_id)
            for row in based:
                self._set_base(s, row.id, None)
        self.report.add("relationships_deleted_local")

    def _push_new(self, conn: Connection, rtype: RelationshipType, links: _Links) -> None:
        if not rtype.xpm:
            self.report.add("relationships_local_only")  # friend, employee...: XPM has no such type
            return
        rel = Relationship(id=None, client_id=links.by_local[conn.client_id],
                           related_client_id=links.by_local[conn.related_client_id], type=rtype.key)
        with self._session() as s:  # write-ahead: the audit row exists even if the call dies mid-way
            self._audit_remote(s, "relationship", f"connection:{conn.id}", "create", None, rel_to_dict(rel))
        created = self.adapter.add_relationship(rel)
        d = rel_to_dict(created)
        now = utcnow()
        with self._session() as s:
            row = RemoteRecord(tenant_id=self.tenant_id, system=self.system, record_type=REL,
                               remote_id=created.id or "", payload={"relationship": d, "base": None},
                               payload_hash=_hash(d), first_seen_at=now, last_seen_at=now, changed_at=now)
            s.add(row)
            s.flush()
            row.payload = {**row.payload, "base": self._base_for(conn, row)}
            marker = self._marker(s, rel.client_id)
            if marker is not None and created.id:  # so a later read of the owner notices if it vanishes
                marker.payload = {**marker.payload, "ids": sorted({*marker.payload.get("ids", []), created.id})}
            self._patch_snapshot(s, rel.client_id, lambda extra: extra.update(
                relationships=[*extra.get("relationships", []), d]))
        self.report.add("relationships_pushed")

    def _delete_remote(self, key: Key, remote: list[RemoteRecord]) -> None:
        """Deleted here since the base: delete in XPM, unless XPM changed it meanwhile (then queue)."""
        changed = [r for r in remote if (r.payload.get("base") or {}).get("hash") not in (None, r.payload_hash)]
        if changed:
            self._queue_conflict(changed[0], key)
            return
        for row in remote:
            with self._session() as s:
                self._audit_remote(s, "relationship", row.remote_id, "delete", row.payload["relationship"], None)
            self.adapter.delete_relationship(row.remote_id)
            with self._session() as s:
                fresh = s.get(RemoteRecord, row.id)
                if fresh is not None:
                    s.delete(fresh)
                self._patch_snapshot(s, row.payload["relationship"]["client_id"], lambda extra, gone=row.remote_id:
                                     extra.update(relationships=[r for r in extra.get("relationships", [])
                                                                 if r.get("id") != gone]))
        self.report.add("relationships_deleted_remote")

    def _queue_conflict(self, row: RemoteRecord, key: Key) -> None:
        with self._session() as s:
            link_id = self._links(s).link_ids.get(row.payload["relationship"]["client_id"])
            if link_id is None:
                return
            c = SyncConflict(tenant_id=self.tenant_id, link_id=link_id, field=f"{CONFLICT_PREFIX}{row.remote_id}",
                             base_value=json.dumps(row.payload.get("base")), local_value=None,
                             remote_value=json.dumps(row.payload["relationship"]))
            s.add(c)
            s.flush()
            self._set_base(s, row.id, row.payload.get("base"), conflict_id=c.id)
            self.report.conflicts.append({"conflict_id": c.id, "remote_id": row.remote_id, "key": list(key),
                                          "reason": "deleted here, changed in " + self.system})
        self.report.add("conflicts_new")

    def _settle_conflicts(self, s: Session, rows: list[RemoteRecord], links: _Links) -> set[Key]:
        """Apply resolved relationship conflicts; return the keys still waiting for an operator."""
        held: set[Key] = set()
        for row in rows:
            cid = row.payload.get("conflict_id")
            if not cid:
                continue
            c = s.get(SyncConflict, cid)
            key = _key_of(row.payload.get("base"))
            if c is not None and c.status == "open":
                if key:
                    held.add(key)
                self.report.add("conflicts_open")
                continue
            take = c.resolution if c is not None else "remote"
            base = row.payload.get("base")
            if take == "local":  # the local deletion wins: clear the base, so XPM's copy is deleted below
                row.payload = {**row.payload, "conflict_id": None, "base": {**(base or {}), "hash": row.payload_hash}}
            else:  # XPM's copy wins: forget the base, so the relationship is pulled as new
                row.payload = {**row.payload, "conflict_id": None, "base": None}
            self.report.add("conflicts_applied")
        return held

    def _pull_new(self, remote: list[RemoteRecord], links: _Links) -> None:
        rel = remote[0].payload["relationship"]
        with self._session() as s:
            tenant = self._tenant(s)
            owner = s.get(Client, links.by_remote[rel["client_id"]])
            related = s.get(Client, links.by_remote[rel["related_client_id"]])
            assert owner is not None and related is not None
            try:  # the rules refuse before anything is written
                conn = conn_svc.create_connection_in(
                    s, tenant, conn_svc.client_party(s, owner), conn_svc.client_party(s, related), rel["type"],
                    actor=ACTOR, origin=self.system, run_id=self.report.run_id)
            except ConnectionRefused as exc:
                self.report.refused.append({"remote_id": remote[0].remote_id, "rule": exc.rule, "reason": str(exc)})
                self.report.add("relationships_refused")
                return
            for row in remote:
                self._set_base(s, row.id, self._base_for(conn, row))
        self.report.add("relationships_pulled")

    # ==== groups ====
    def groups(self, *, full: bool = False) -> None:
        """XPM's groups into the cache, then compare and write from the cache. With detailed records (the
        normal case) members come from the clients' `Groups`, and the group list (one call) is read daily and
        when the records show a membership change (a group may have been created or deleted). Without them (the
        paged-list fall-back), groups are listed with members (1 + one call per group) daily."""
        with self._session() as s:
            cp = s.scalar(select(Checkpoint).where(Checkpoint.tenant_id == self.tenant_id,
                                                   Checkpoint.system == self.system, Checkpoint.stream == GROUP_STREAM))
            read_at = datetime.fromisoformat(cp.value["read_at"]) if cp and cp.value.get("read_at") else None
            clients = [(r.remote_id, r.payload.get("extra") or {}) for r in self._rows(s, "client")
                       if r.remote_status not in ("deleted", MISSING)]
        stale = full or read_at is None or utcnow() - read_at > GROUP_REFRESH
        detailed = bool(clients) and all(extra.get("detailed") for _, extra in clients)
        if detailed:
            derived: dict[str, ClientGroup] = {}
            for rid, extra in sorted(clients):
                for g in extra.get("groups") or []:
                    known = derived.setdefault(g["id"], ClientGroup(id=g["id"], name=g.get("name") or ""))
                    known.member_ids = (*known.member_ids, rid)
            with self._session() as s:
                stored = {r.remote_id: tuple(r.payload["group"]["member_ids"]) for r in self._rows(s, GROUP)
                          if r.remote_status == "active"}
            moved = any(tuple(sorted(g.member_ids)) != stored.get(gid) for gid, g in derived.items()) or any(
                members and gid not in derived for gid, members in stored.items())
            if stale or moved:  # a membership change may be a group created or deleted: list them (1 call)
                listed = {g.id: g for g in self.adapter.list_groups(members=False) if g.id}
                fetched = {gid: ClientGroup(id=gid, name=g.name, taxable=g.taxable,
                                            member_ids=derived[gid].member_ids if gid in derived else ())
                           for gid, g in listed.items()}
                self._store_groups(fetched, complete=True)
                self._groups_read()
            else:
                self._store_groups(derived, complete=False)
        elif self.read_groups and stale:
            self._store_groups({g.id: g for g in self.adapter.list_groups() if g.id}, complete=True)
            self._groups_read()
        self._reconcile_groups()

    def _groups_read(self) -> None:
        with self._session() as s:
            cp = s.scalar(select(Checkpoint).where(
                Checkpoint.tenant_id == self.tenant_id, Checkpoint.system == self.system,
                Checkpoint.stream == GROUP_STREAM))
            value = {"read_at": utcnow().isoformat()}
            if cp is None:
                s.add(Checkpoint(tenant_id=self.tenant_id, system=self.system, stream=GROUP_STREAM, value=value))
            else:
                cp.value = value
        self.report.add("groups_read")

    def _store_groups(self, fetched: dict[str, ClientGroup], *, complete: bool) -> None:
        """Groups as XPM has them now. `complete`: the group list itself (a group it lacks is deleted);
        else what the detailed records show (a group no client shows keeps its row, with no members)."""
        now = utcnow()
        with self._session() as s:
            rows = {r.remote_id: r for r in self._rows(s, GROUP)}
            for gid, g in fetched.items():
                row = rows.get(gid)
                if row is not None and not complete:
                    g = ClientGroup(id=gid, name=g.name or row.payload["group"]["name"], member_ids=g.member_ids,
                                    taxable=row.payload["group"].get("taxable"))
                d = group_to_dict(g)
                if row is None:
                    s.add(RemoteRecord(tenant_id=self.tenant_id, system=self.system, record_type=GROUP, remote_id=gid,
                                       payload={"group": d, "base": None}, payload_hash=_hash(d), first_seen_at=now,
                                       last_seen_at=now, changed_at=now))
                elif row.payload_hash != _hash(d) or row.remote_status != "active":
                    row.payload = {**row.payload, "group": d}
                    row.payload_hash, row.remote_status, row.changed_at, row.last_seen_at = _hash(d), "active", now, now
            for gid, row in rows.items():
                if gid in fetched or row.remote_status == "deleted":
                    continue
                if complete:
                    row.remote_status = "deleted"
                elif row.payload["group"]["member_ids"]:  # no detailed record shows it any more: empty
                    d = {**row.payload["group"], "member_ids": []}
                    row.payload = {**row.payload, "group": d}
                    row.payload_hash, row.changed_at = _hash(d), now

    def _reconcile_groups(self) -> None:
        with self._session() as s:
            row_ids = [r.id for r in self._rows(s, GROUP)]
            paired = self._paired_ids(s)
        for row_id in row_ids:
            try:
                self._group_row(row_id, paired)
            except (DailyLimitReached, ReconnectRequired):
                raise
            except ReadOnly:
                self.report.add("kept_local_read_only")  # the system takes no such writes: not a failure
            except AdapterError as exc:
                self.report.errors.append({"group_record": row_id, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
        with self._session() as s:
            paired = self._paired_ids(s)
            new_local = [g.id for g in s.scalars(select(ClientGroupRow).where(
                ClientGroupRow.tenant_id == self.tenant_id)) if g.id not in paired]
        for group_id in new_local:
            try:
                self._push_group(group_id)
            except (DailyLimitReached, ReconnectRequired):
                raise
            except ReadOnly:
                self.report.add("kept_local_read_only")  # the system takes no such writes: not a failure
            except AdapterError as exc:
                self.report.errors.append({"group_id": group_id, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})

    def _paired_ids(self, s: Session) -> set[int]:
        return {g.id for r in self._rows(s, GROUP) if (g := _paired_group(s, r.payload.get("base"))) is not None}

    def _group_row(self, row_id: int, paired: set[int]) -> None:
        with self._session() as s:
            row = s.get(RemoteRecord, row_id)
            assert row is not None
            base, g = row.payload.get("base"), row.payload["group"]
            local = _paired_group(s, base)
            if row.remote_status == "deleted":
                if local is not None:
                    group_svc.delete_group_in(s, local, actor=ACTOR, origin=self.system, run_id=self.report.run_id)
                    self.report.add("groups_deleted_local")
                s.delete(row)
                return
            if base and local is None:  # deleted here since the base: delete in XPM
                self._audit_remote(s, "group", row.remote_id, "delete", g, None)
                s.commit()
                self.adapter.delete_group(row.remote_id)
                s.delete(row)
                self.report.add("groups_deleted_remote")
                return
            links = self._links(s)
            if local is None:  # new in XPM: adopt a local group of the same name, else create one
                local = s.scalar(select(ClientGroupRow).where(
                    ClientGroupRow.tenant_id == self.tenant_id, func.lower(ClientGroupRow.name) == g["name"].lower()))
                if local is not None and local.id in paired:
                    local = None
                if local is None:
                    try:
                        local = group_svc.create_group_in(s, self._tenant(s), g["name"], [], actor=ACTOR,
                                                          origin=self.system, run_id=self.report.run_id)
                    except ConnectionRefused as exc:
                        self.report.refused.append({"group": row.remote_id, "rule": exc.rule, "reason": str(exc)})
                        return
                    self.report.add("groups_pulled")
                base = {**_group_ref(local), "name": g["name"], "members": []}
                paired.add(local.id)
            elif g["name"] != base["name"] and local.name == base["name"]:
                try:
                    group_svc.rename_group_in(s, local, g["name"], actor=ACTOR, origin=self.system,
                                              run_id=self.report.run_id)
                    self.report.add("groups_renamed_local")
                except ConnectionRefused as exc:  # another local group has that name: members still sync
                    self.report.refused.append({"group_id": local.id, "rule": exc.rule, "reason": str(exc)})
            elif local.name != base["name"] and g["name"] == base["name"]:
                self.report.refused.append({"group_id": local.id, "reason": f"{self.system} has no API to rename "
                                            "a group: rename it there too"})
            self._members(s, row, local, base, links)

    def _members(self, s: Session, row: RemoteRecord, local: ClientGroupRow, base: dict[str, Any],
                 links: _Links) -> None:
        g = row.payload["group"]
        mine = set(group_svc.member_ids(s, local.id))
        theirs = {links.by_remote[m] for m in g["member_ids"] if m in links.by_remote}
        for m in g["member_ids"]:
            if m not in links.by_remote:
                self.report.waiting.append({"group": local.name, "remote_member": m,
                                            "reason": f"{self.system} client not linked yet"})
                self.report.add("waiting")
        for m in mine - set(links.by_local):
            self.report.waiting.append({"group": local.name, "member_id": m, "reason": "client not linked yet"})
            self.report.add("waiting")
        linked = set(links.by_local)
        was = set(base["members"]) & linked  # an unlinked former member is unknown, not removed
        push_add = sorted(((mine & linked) - was) - theirs)
        push_remove = sorted((was - mine) & theirs)
        pull_add = sorted((theirs - was) - mine)
        pull_remove = sorted((was - theirs) & mine)
        if pull_add or pull_remove:
            clients = {c.id: c for c in s.scalars(select(Client).where(Client.id.in_(pull_add + pull_remove)))}
            group_svc.change_members_in(s, local, [clients[i] for i in pull_add], [clients[i] for i in pull_remove],
                                        actor=ACTOR, origin=self.system, run_id=self.report.run_id, strict=False)
            self.report.add("group_members_pulled", len(pull_add) + len(pull_remove))
        remote_members = set(g["member_ids"])
        if push_add or push_remove:
            add_ids, remove_ids = [links.by_local[i] for i in push_add], [links.by_local[i] for i in push_remove]
            self._audit_remote(s, "group", row.remote_id, "members", {"member_ids": g["member_ids"]},
                               {"add": add_ids, "remove": remove_ids})
            s.commit()
            self.adapter.set_group_members(row.remote_id, add=add_ids, remove=remove_ids)
            remote_members = (remote_members | set(add_ids)) - set(remove_ids)
            self._patch_membership(s, row.remote_id, g["name"], add_ids, remove_ids)
            self.report.add("group_members_pushed", len(add_ids) + len(remove_ids))
        final_local = set(group_svc.member_ids(s, local.id))
        agreed = sorted(final_local & {links.by_remote[m] for m in remote_members if m in links.by_remote})
        d = {**g, "member_ids": sorted(remote_members)}
        row = s.get(RemoteRecord, row.id)  # type: ignore[assignment]
        row.payload = {"group": d, "base": {**_group_ref(local), "name": local.name, "members": agreed}}
        row.payload_hash = _hash(d)

    def _push_group(self, group_id: int) -> None:
        with self._session() as s:
            local = s.get(ClientGroupRow, group_id)
            if local is None:
                return
            links = self._links(s)
            members = group_svc.member_ids(s, local.id)
            remote_ids = [links.by_local[m] for m in members if m in links.by_local]
            if not remote_ids:  # XPM creates a group with a first client: wait for a linked member
                self.report.waiting.append({"group": local.name, "reason": "no member is linked yet (XPM needs one "
                                            "to create a group)"})
                self.report.add("waiting")
                return
            self._audit_remote(s, "group", f"group:{local.id}", "create", None,
                               {"name": local.name, "member_ids": remote_ids})
            name, ref = local.name, _group_ref(local)
        created = self.adapter.add_group(ClientGroup(id=None, name=name, member_ids=tuple(remote_ids)))
        d = group_to_dict(created)
        now = utcnow()
        with self._session() as s:
            if created.id:
                self._patch_membership(s, created.id, name, list(created.member_ids), [])
            agreed = sorted(links.by_remote[m] for m in created.member_ids if m in links.by_remote)
            s.add(RemoteRecord(tenant_id=self.tenant_id, system=self.system, record_type=GROUP,
                               remote_id=created.id or "", payload={"group": d, "base": {
                                   **ref, "name": name, "members": agreed}},
                               payload_hash=_hash(d), first_seen_at=now, last_seen_at=now, changed_at=now))
        self.report.add("groups_pushed")


def _cached_relationships(extra: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The relationships a detailed record carries; None when the record is a summary (not read yet)."""
    if not extra or not extra.get("detailed") or not isinstance(extra.get("relationships"), list):
        return None
    return list(extra["relationships"])


def _group_ref(group: ClientGroupRow) -> dict[str, Any]:
    # The creation time guards against a reused id (SQLite hands a deleted row's id to the next insert).
    return {"group_id": group.id, "created": group.created_at.isoformat()}


def _paired_group(s: Session, base: dict[str, Any] | None) -> ClientGroupRow | None:
    if not base:
        return None
    group = s.get(ClientGroupRow, int(base["group_id"]))
    if group is None or group.created_at.isoformat() != base.get("created"):
        return None
    return group


def _key_of(base: dict[str, Any] | None) -> Key | None:
    if not base or not base.get("key"):
        return None
    a, b, t = base["key"]
    return int(a), int(b), str(t)


def resolve_relationship_conflict(ctx: ServiceContext, tenant_name: str, conflict_id: int, take: str,
                                  actor: str = "operator") -> dict[str, Any]:
    """Settle a relationship conflict: "local" (the local deletion wins: XPM's copy is deleted by the next
    sync) or "remote" (XPM's copy wins: the connection comes back locally on the next sync)."""
    if take not in ("local", "remote"):
        raise ValueError("take must be local or remote")
    with ctx.db.session() as s:
        tenant = get_tenant(s, tenant_name)
        c = s.get(SyncConflict, conflict_id)
        if c is None or c.tenant_id != tenant.id or not c.field.startswith(CONFLICT_PREFIX):
            raise LookupError(f"no relationship conflict with id {conflict_id} in this tenant")
        if c.status != "open":
            raise ValueError(f"conflict {conflict_id} is already resolved ({c.resolution})")
        c.status, c.resolution, c.resolved_by, c.resolved_at = "resolved", take, actor, utcnow()
        s.add(AuditEntry(tenant_id=tenant.id, actor=actor, origin="operator", target="local", entity="conflict",
                         entity_id=str(c.id), action="resolve", before=None,
                         after={"field": c.field, "resolution": take}))
        return {"id": c.id, "field": c.field, "status": c.status, "resolution": take}


def fold_relationship_report(report: Any, rel: RelationshipSyncReport) -> None:
    """Add a relationship sync done inside another run to that run's report: counts prefixed
    `relationships_`, its failures to the run's errors."""
    for key, value in rel.counts.items():
        report.counts[f"relationships_{key}"] = report.counts.get(f"relationships_{key}", 0) + value
    report.counts["relationships_waiting"] = len(rel.waiting)
    report.errors.extend(rel.errors)
