"""Two-way profile sync for one tenant and one linked system.

1. Pull: incremental (`modified_since` = the stored cursor) or, the first time and with `full=True`, a full
   listing. Each page is upserted into the records cache together with its checkpoint, so a run that dies
   resumes at the last stored page and a replayed page changes nothing. Archived and deleted remote records
   are reported, never treated as deletes; a full listing reports linked records it no longer contains,
   and only when the whole listing was fetched.
2. Merge each linked pair that changed (local `Client.version` differs from `Link.last_pushed_version`, or
   the remote snapshot's hash differs from the one last merged), field by field against the stored base
   (`FieldSyncState`), with the rules of config/field_rules.yaml (see `syncworker.domain.sync`).
3. Write: remote first (one update call per record), then one local transaction that applies pulled
   values, stores the remote as written, moves the bases to the values now on both sides, queues or closes
   conflicts and records `last_pushed_version`. A crash between the remote write and the local commit
   leaves remote == local on the pushed fields, so the retry's merge sees agreement and writes nothing.

Every write goes to the audit log: remote writes before they are made (write-ahead, so a crash can never
hide one; a failed call adds an `update_failed` row), local writes with the change they belong to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from adapters.base import ClientSystem
from adapters.errors import AdapterError, DailyLimitReached, ReconnectRequired
from syncworker.domain.profile import ClientProfile, ClientStatus, flatten
from syncworker.domain.serialize import content_hash, profile_from_dict, profile_to_dict
from syncworker.domain.sync import (
    Action,
    Decision,
    FieldRules,
    comparable_fields,
    decode,
    encode,
    merge_record,
    value_hash,
    would_do,
)
from syncworker.jobs.base import JobRequest
from syncworker.services.context import ServiceContext
from syncworker.services.field_rules import tenant_field_rules
from syncworker.services.pull import Pulled, pull_clients
from syncworker.services.run_frame import RunRefused, RunReport, guarded_run
from syncworker.services.runs import RunRecorder
from syncworker.services.snapshots import upsert_clients
from syncworker.services.systems import SYSTEMS
from syncworker.services.tenants import get_tenant
from syncworker.store.mapping import client_profile, json_ready
from syncworker.store.models import (
    AuditEntry,
    Client,
    FieldSyncState,
    Link,
    RemoteRecord,
    SyncConflict,
    TenantSystem,
    WebhookEvent,
)
from syncworker.store.types import utcnow

log = logging.getLogger(__name__)
ACTOR = "sync"
RECORD_MARK = "@record"  # FieldSyncState row holding the hash of the remote record as last merged
OUTCOMES = ("created", "updated", "unchanged", "conflicts", "skipped", "failed")
PULL_BATCH = 50  # webhook resources read (and merged) at a time: Xero's `IDs=` takes 50
PULLED_CATEGORIES = frozenset({"CONTACT"})  # webhook events a pull reads; the others are only recorded
MAX_REPORTED_RECORDS = 2000


@dataclass
class SyncReport(RunReport):
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    trigger: str = "cli"
    records: list[dict[str, Any]] = field(default_factory=list)  # every record that was not unchanged
    archived: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)


# --- entry points ---------------------------------------------------------------------------------------

def run_sync(ctx: ServiceContext, tenant: str, system: str, *, dry_run: bool = False, trigger: str = "cli",
             run_id: int | None = None, full: bool = False, rules: FieldRules | None = None) -> SyncReport:
    """Pull, merge and write for one tenant and system. Raises RunRefused when the run cannot start."""
    return _guarded(ctx, tenant, system, "sync", dry_run=dry_run, trigger=trigger, run_id=run_id,
                    params={"system": system, "dry_run": dry_run, "full": full},
                    work=lambda engine: engine.sync(full=full), rules=rules)


def run_webhook_pull(ctx: ServiceContext, tenant: str, system: str, event_ids: list[int], *,
                     trigger: str = "webhook", run_id: int | None = None,
                     rules: FieldRules | None = None) -> SyncReport:
    """Targeted pulls (`get_client`) of the resources of unprocessed webhook events, each merged like a
    sync would; the events are marked processed with their snapshot, so replaying them changes nothing."""
    return _guarded(ctx, tenant, system, "webhook_pull", dry_run=False, trigger=trigger, run_id=run_id,
                    params={"system": system, "event_ids": list(event_ids)},
                    work=lambda engine: engine.webhook_pull(event_ids), rules=rules)


def linked_systems(ctx: ServiceContext, tenant: str) -> list[str]:
    """Systems the tenant is connected to and has linked records in."""
    with ctx.db.session() as s:
        tenant_id = get_tenant(s, tenant).id
        linked = set(s.scalars(select(Link.system).where(Link.tenant_id == tenant_id, Link.status == "linked")))
        connected = set(s.scalars(select(TenantSystem.system).where(TenantSystem.tenant_id == tenant_id)))
    return [sys for sys in SYSTEMS if sys in linked and sys in connected]


def run_sync_job(ctx: ServiceContext, request: JobRequest, run_id: int) -> dict[str, Any]:
    p = request.params
    system = p.get("system") or (linked_systems(ctx, request.tenant) or ["xpm"])[0]
    try:
        report = run_sync(ctx, request.tenant, str(system), dry_run=bool(p.get("dry_run")), trigger=request.trigger,
                          run_id=run_id, full=bool(p.get("full")))
    except RunRefused as exc:
        return {"status": "refused", "message": str(exc)}
    return {"status": report.status, "counts": report.counts}


def run_webhook_pull_job(ctx: ServiceContext, request: JobRequest, run_id: int) -> dict[str, Any]:
    p = request.params
    ids = [int(i) for i in p.get("event_ids") or []]
    try:
        report = run_webhook_pull(ctx, request.tenant, str(p.get("system") or "xero"), ids,
                                  trigger=request.trigger, run_id=run_id)
    except RunRefused as exc:
        return {"status": "refused", "message": str(exc)}
    return {"status": report.status, "counts": report.counts}


def _guarded(ctx: ServiceContext, tenant_name: str, system: str, kind: str, *, dry_run: bool, trigger: str,
             run_id: int | None, params: dict[str, Any], work: Any, rules: FieldRules | None) -> SyncReport:
    """The shared run frame (run record, refusals, tenant lock, adapter errors) around a sync engine."""
    rules = rules or tenant_field_rules(ctx.db, tenant_name)  # a bad rule refuses the run before anything starts
    return guarded_run(
        ctx, tenant_name, system, kind, dry_run=dry_run, trigger=trigger, run_id=run_id, params=params,
        make_report=lambda rid: SyncReport(rid, tenant_name, system, dry_run, trigger=trigger),
        work=lambda report: lambda tenant_id, adapter, runs: work(
            SyncEngine(ctx, tenant_id, system, adapter, report, rules, runs)),
        has_failures=lambda r: bool(r.counts.get("failed")),
    )


# --- the engine -----------------------------------------------------------------------------------------

@dataclass
class _Plan:
    """What one pair needs, computed from one consistent read."""

    link_id: int
    client_version: int
    local_id: str
    remote_id: str
    name: str
    first: bool
    decisions: list[Decision]
    local_before: dict[str, Any]
    remote_before: dict[str, Any]
    remote_hash: str

    def fields(self, action: Action) -> dict[str, Any]:
        return {d.field: d.value for d in self.decisions if d.action == action}


class SyncEngine:
    def __init__(self, ctx: ServiceContext, tenant_id: int, system: str, adapter: ClientSystem, report: SyncReport,
                 rules: FieldRules, runs: RunRecorder) -> None:
        self.ctx, self.db, self.tenant_id, self.system = ctx, ctx.db, tenant_id, system
        self.adapter, self.report, self.rules, self.runs = adapter, report, rules, runs
        self.dry = report.dry_run
        self.country = ctx.settings.default_country
        self.writable = frozenset(adapter.capabilities.writable_fields) if adapter.capabilities.can_update \
            else frozenset()

    # ---- sync ----
    def sync(self, *, full: bool) -> None:
        pulled, seen_all = self._pull(full=full)
        links = self._linked_pairs()
        for _, remote_id, _ in links:  # what the pull saw archived or deleted among linked records
            p = pulled.get(remote_id)
            if p is not None and p.status in (ClientStatus.ARCHIVED, ClientStatus.DELETED):
                target = self.report.deleted if p.status == ClientStatus.DELETED else self.report.archived
                target.append({"remote_id": p.id, "name": p.name, "status": p.status.value})
        if seen_all is not None:
            for _, remote_id, _ in links:
                if remote_id not in seen_all:
                    self.report.deleted.append({"remote_id": remote_id,
                                                "reason": f"not in the full {self.system} listing "
                                                          "(archived or deleted there)"})
        # Change capture: only pairs whose local version or remote snapshot moved since their last merge
        # (a dry run has not stored what it pulled, so those pairs are looked at too).
        todo = [(lid, rid) for lid, rid, dirty in links if full or dirty or (self.dry and rid in pulled)]
        self.report.add("unchanged", len(links) - len(todo))
        step = max(self.adapter.write_batch_size, 1)
        for start in range(0, len(todo), step):
            chunk = todo[start:start + step]
            self.merge_links([(link_id, pulled.get(remote_id)) for link_id, remote_id in chunk], force=full)
            if (start + len(chunk)) // 200 > start // 200:
                self.runs.progress(self.report.run_id, phase="merge", done=start + len(chunk), total=len(todo))
        if not self.dry and self.adapter.capabilities.relationships:
            from syncworker.services.relationship_sync import fold_relationship_report, sync_relationships

            rel = sync_relationships(self.ctx, self.report.tenant, self.system, run_id=self.report.run_id,
                                     adapter=self.adapter, hold_lock=False)
            fold_relationship_report(self.report, rel)
        with self.db.session() as s:
            self.report.counts["open_conflicts"] = s.scalar(
                select(func.count()).select_from(SyncConflict).join(Link, Link.id == SyncConflict.link_id)
                .where(SyncConflict.tenant_id == self.tenant_id, Link.system == self.system,
                       SyncConflict.status == "open")) or 0

    def _linked_pairs(self) -> list[tuple[int, str, bool]]:
        """(link id, remote id, changed since its last merge) for every linked pair, in one query."""
        mark = aliased(FieldSyncState)
        dirty = or_(mark.id.is_(None), RemoteRecord.id.is_(None), Link.last_pushed_version.is_(None),
                    Link.last_pushed_version != Client.version, mark.base_hash != RemoteRecord.payload_hash)
        q = (select(Link.id, Link.remote_id, dirty).join(Client, Client.id == Link.client_id)
             .outerjoin(RemoteRecord, and_(RemoteRecord.tenant_id == Link.tenant_id,
                                           RemoteRecord.system == Link.system, RemoteRecord.record_type == "client",
                                           RemoteRecord.remote_id == Link.remote_id))
             .outerjoin(mark, and_(mark.link_id == Link.id, mark.field == RECORD_MARK))
             .where(Link.tenant_id == self.tenant_id, Link.system == self.system, Link.status == "linked")
             .order_by(Link.id))
        with self.db.session() as s:
            return [(lid, rid, bool(d)) for lid, rid, d in s.execute(q).all()]

    def _pull(self, *, full: bool) -> tuple[dict[str, ClientProfile], set[str] | None]:
        """Pull into the records cache (the shared loop and stream, `services/pull.py`). Returns this run's
        profiles by id and, for a completed full listing, every id the listing held."""
        def on_page(p: Pulled) -> None:
            self.runs.progress(self.report.run_id, phase="pull", pages=p.pages, records=len(p.seen))

        pulled = pull_clients(self.db, self.tenant_id, self.system, self.adapter, full=full, dry=self.dry,
                              on_page=on_page, counts=self.report.counts)
        if not self.dry:
            with self.db.session() as s:
                # Webhook events received before this pull began are covered by it (their pull job may
                # have been refused while this tenant was busy).
                covered = s.execute(update(WebhookEvent).where(
                    WebhookEvent.tenant_id == self.tenant_id, WebhookEvent.system == self.system,
                    WebhookEvent.processed_at.is_(None), WebhookEvent.received_at <= pulled.started)
                    .values(processed_at=utcnow(), run_id=self.report.run_id)).rowcount
                if covered:
                    self.report.add("events_covered_by_pull", covered)
        return pulled.seen, pulled.listing_ids

    # ---- webhook pulls ----
    def webhook_pull(self, event_ids: list[int]) -> None:
        """Reads the contacts of the events with `get_clients` (Xero: 50 ids a call), a batch at a time, each
        batch merged and its events marked processed together. Only CONTACT events are read."""
        with self.db.session() as s:
            events = list(s.execute(select(WebhookEvent.id, WebhookEvent.resource_id, WebhookEvent.category).where(
                WebhookEvent.tenant_id == self.tenant_id, WebhookEvent.system == self.system,
                WebhookEvent.id.in_(event_ids), WebhookEvent.processed_at.is_(None))).all())
        self.report.add("events_already_processed", len(set(event_ids)) - len(events))
        by_resource: dict[str, list[int]] = {}
        not_contacts: list[int] = []
        for event_id, resource_id, category in events:
            if category in PULLED_CATEGORIES:
                by_resource.setdefault(resource_id, []).append(event_id)
            else:
                not_contacts.append(event_id)
        if not_contacts:  # recorded by the intake already; nothing to read for them
            with self.db.session() as s:
                s.execute(update(WebhookEvent).where(WebhookEvent.id.in_(not_contacts))
                          .values(processed_at=utcnow(), run_id=self.report.run_id))
            self.report.add("events_not_pulled", len(not_contacts))
        resources = list(by_resource)
        step = max(PULL_BATCH, self.adapter.write_batch_size)
        for start in range(0, len(resources), step):
            chunk = resources[start:start + step]
            found = {p.id: p for p in self.adapter.get_clients(chunk)}
            with self.db.session() as s:
                if found and not self.dry:
                    for k, v in upsert_clients(s, self.tenant_id, self.system, list(found.values())).items():
                        self.report.add(f"remote_{k}", v)
                ids = [i for rid in chunk for i in by_resource[rid]]
                s.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids))
                          .values(processed_at=utcnow(), run_id=self.report.run_id))
                linked = dict(s.execute(select(Link.remote_id, Link.id).where(
                    Link.tenant_id == self.tenant_id, Link.system == self.system, Link.remote_id.in_(chunk),
                    Link.status == "linked")).all())
            self.report.add("events_processed", len(ids))
            self.report.add("remote_not_found", sum(rid not in found for rid in chunk))
            self.merge_links([(linked[rid], found[rid]) for rid in chunk if rid in found and rid in linked])

    # ---- pairs, a batch at a time ----
    def merge_link(self, link_id: int, pulled: ClientProfile | None, *, force: bool = False) -> None:
        self.merge_links([(link_id, pulled)], force=force)

    def merge_links(self, pairs: list[tuple[int, ClientProfile | None]], *, force: bool = False) -> None:
        """Plan each pair, write the remote side of all of them with one `update_clients` (the adapter batches
        as its API allows), then apply each pair locally. One pair's failure fails that pair only."""
        plans: list[_Plan] = []
        for link_id, pulled in pairs:
            plan = self._guard(link_id, lambda lid=link_id, p=pulled: self._plan(lid, p, force))
            if plan is not None:
                plans.append(plan)
        stored: dict[int, ClientProfile | Exception] = {}
        to_push = [p for p in plans if p.fields(Action.PUSH)]
        if to_push and not self.dry:
            stored = self._push(to_push)
        for plan in plans:
            self._guard(plan.link_id, lambda p=plan: self._apply(p, stored.get(p.link_id)))

    def _guard(self, link_id: int, step: Any) -> Any:
        try:
            return step()
        except (DailyLimitReached, ReconnectRequired):
            raise
        except (AdapterError, ValueError, SQLAlchemyError) as exc:
            self._record(link_id, "failed", error=f"{type(exc).__name__}: {exc}")
            self.report.errors.append({"link_id": link_id, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
            log.warning("sync of one record failed", extra={"run_id": self.report.run_id, "link_id": link_id,
                                                            "error_class": type(exc).__name__})
            return None

    def _plan(self, link_id: int, pulled: ClientProfile | None, force: bool) -> _Plan | None:
        with self.db.session() as s:
            link = s.get(Link, link_id)
            if link is None or link.status != "linked":
                return None
            client = s.get(Client, link.client_id)
            if client is None or client.merged_into_id is not None:
                self._record(link_id, "skipped", reason="the local record was merged into another")
                return None
            remote = pulled
            if remote is None:
                payload = s.scalar(select(RemoteRecord.payload).where(
                    RemoteRecord.tenant_id == self.tenant_id, RemoteRecord.system == self.system,
                    RemoteRecord.record_type == "client", RemoteRecord.remote_id == link.remote_id))
                remote = profile_from_dict(payload) if payload else None
            ids = {"local_id": client.external_id, "remote_id": link.remote_id, "name": client.display_name}
            if remote is None:
                self._record(link_id, "skipped", reason="remote record not pulled yet", **ids)
                return None
            if remote.status in (ClientStatus.ARCHIVED, ClientStatus.DELETED):
                self._record(link_id, "skipped", reason=f"{remote.status.value} in {self.system}", **ids)
                return None
            states = {st.field: st for st in s.scalars(select(FieldSyncState).where(FieldSyncState.link_id == link_id))}
            mark = states.pop(RECORD_MARK, None)
            remote_hash = content_hash(profile_to_dict(remote))
            first = not states
            dirty = force or first or mark is None or mark.base_hash != remote_hash \
                or link.last_pushed_version != client.version
            if not dirty:
                self.report.add("unchanged")
                return None
            local_flat, remote_flat = flatten(client_profile(client)), flatten(remote)
            comparable = comparable_fields(self.system, self.rules, self.writable, _unknown_fields(remote))
            bases = {f: decode(st.base_value) for f, st in states.items() if f in comparable}
            decisions = merge_record(self.system, self.rules, local=local_flat, remote=remote_flat, bases=bases,
                                     remote_writable=self.writable, comparable=comparable,
                                     local_newer=_local_newer(client.updated_at, remote.modified_at),
                                     country=self.country)
            return _Plan(link_id, client.version, client.external_id, link.remote_id, client.display_name, first,
                         decisions, local_flat, remote_flat, remote_hash)

    def _apply(self, plan: _Plan, written: ClientProfile | Exception | None) -> None:
        pushes, pulls = plan.fields(Action.PUSH), plan.fields(Action.PULL)
        conflicts = [d for d in plan.decisions if d.action == Action.CONFLICT]
        ids = {"local_id": plan.local_id, "remote_id": plan.remote_id, "name": plan.name}
        changes = {"pushed": sorted(pushes), "pulled": sorted(pulls), "conflicts": [d.field for d in conflicts]}
        outcome = "conflicts" if conflicts else "created" if plan.first else "updated" if pushes or pulls \
            else "unchanged"
        if self.dry:  # what it would write, and the conflicts it would open, value by value
            self._record(plan.link_id, outcome, **ids, **changes,
                         **would_do(plan.decisions, plan.local_before, plan.remote_before))
            return
        if isinstance(written, Exception):
            raise written
        stored = written if pushes else None
        if pushes and stored is None:
            raise AdapterError(f"{self.system} did not answer the write of {plan.remote_id}")
        with self.db.session() as s:
            _write_lock_first(s)
            link = s.get(Link, plan.link_id)
            client = s.get(Client, link.client_id) if link else None
            if link is None or client is None or client.version != plan.client_version:
                # Changed while we were writing: the bases stay put, so the next run merges it afresh (and
                # sees the pushed fields already agree).
                if stored is not None:
                    upsert_clients(s, self.tenant_id, self.system, [stored])
                self._record(plan.link_id, "skipped", reason="the local record changed during the sync", **ids,
                             **changes)
                return
            if pulls:
                self._write_local(s, client, pulls, plan)
            remote_hash = plan.remote_hash
            if stored is not None:
                upsert_clients(s, self.tenant_id, self.system, [stored])
                remote_hash = content_hash(profile_to_dict(stored))
            states = {st.field: st for st in s.scalars(select(FieldSyncState).where(
                FieldSyncState.link_id == plan.link_id))}
            self._queue_conflicts(s, plan, conflicts, states)
            self._move_bases(s, plan, states)
            _set_state(s, states, plan.link_id, RECORD_MARK, None, remote_hash, "remote")
            s.flush()  # the version now includes the pulled values
            link.last_pushed_version = client.version
        self.report.add("pushed_fields", len(pushes))
        self.report.add("pulled_fields", len(pulls))
        self._record(plan.link_id, outcome, **ids, **changes)

    def _push(self, plans: list[_Plan]) -> dict[int, ClientProfile | Exception]:
        """The remote writes of `plans` in one `update_clients`, write-ahead audited; returns per link the
        record as stored or the error that refused it. A failure of the whole call fails every record in
        it (a day limit or a lost grant stops the run)."""
        audit = {p.link_id: (json_ready({f: p.remote_before.get(f) for f in p.fields(Action.PUSH)}),
                             json_ready(p.fields(Action.PUSH))) for p in plans}
        with self.db.session() as s:  # write-ahead: the log never misses a remote write
            for p in plans:
                s.add(AuditEntry(tenant_id=self.tenant_id, actor=ACTOR, origin="local", target=self.system,
                                 entity="client", entity_id=p.remote_id, action="update", before=audit[p.link_id][0],
                                 after=audit[p.link_id][1], run_id=self.report.run_id))
        try:
            by_remote = self.adapter.update_clients(
                {p.remote_id: _with_whole_lines(p.fields(Action.PUSH), p.remote_before, self.writable) for p in plans})
        except Exception as exc:
            self._audit_failed(plans, audit, exc)
            if isinstance(exc, DailyLimitReached | ReconnectRequired) or not isinstance(exc, AdapterError):
                raise
            return {p.link_id: exc for p in plans}
        out = {p.link_id: by_remote.get(p.remote_id) or AdapterError(f"no answer for {p.remote_id}") for p in plans}
        self._audit_failed([p for p in plans if isinstance(out[p.link_id], Exception)], audit, None, out)
        self.report.add("remote_writes", sum(not isinstance(v, Exception) for v in out.values()))
        return out

    def _audit_failed(self, plans: list[_Plan], audit: dict[int, tuple[Any, Any]], exc: Exception | None,
                      each: dict[int, ClientProfile | Exception] | None = None) -> None:
        if not plans:
            return
        with self.db.session() as s:
            for p in plans:
                error = exc if exc is not None else (each or {}).get(p.link_id)
                s.add(AuditEntry(tenant_id=self.tenant_id, actor=ACTOR, origin="local", target=self.system,
                                 entity="client", entity_id=p.remote_id, action="update_failed",
                                 before=audit[p.link_id][0], after={"error": type(error).__name__},
                                 run_id=self.report.run_id))

    def _write_local(self, s: Session, client: Client, pulls: dict[str, Any], plan: _Plan) -> None:
        for f, value in pulls.items():
            setattr(client, local_column(f), column_value(f, value))
        s.add(AuditEntry(tenant_id=self.tenant_id, actor=ACTOR, origin=self.system, target="local", entity="client",
                         entity_id=client.external_id, action="update",
                         before=json_ready({f: plan.local_before.get(f) for f in pulls}),
                         after=json_ready(dict(pulls)), run_id=self.report.run_id))
        self.report.add("local_writes")

    def _move_bases(self, s: Session, plan: _Plan, states: dict[str, FieldSyncState]) -> None:
        for d in plan.decisions:
            if d.action in (Action.AGREE, Action.PUSH, Action.PULL):
                _set_state(s, states, plan.link_id, d.field, encode(d.value), value_hash(d.field, d.value, country=self.country),
                           {Action.AGREE: "both", Action.PUSH: "local", Action.PULL: "remote"}[d.action])

    def _queue_conflicts(self, s: Session, plan: _Plan, conflicts: list[Decision],
                         base_rows: dict[str, FieldSyncState]) -> None:
        open_rows = {c.field: c for c in s.scalars(select(SyncConflict).where(
            SyncConflict.link_id == plan.link_id, SyncConflict.status == "open"))}
        for d in conflicts:
            local, remote = encode(plan.local_before.get(d.field)), encode(plan.remote_before.get(d.field))
            base = base_rows[d.field].base_value if d.field in base_rows else None
            row = open_rows.pop(d.field, None)
            if row is None:
                s.add(SyncConflict(tenant_id=self.tenant_id, link_id=plan.link_id, field=d.field, base_value=base,
                                   run_id=self.report.run_id, reason=d.reason[:200],
                                   local_value=local, remote_value=remote))
                self.report.add("conflicts_new")
            else:  # still in conflict: keep one row, with the latest values
                row.local_value, row.remote_value, row.base_value, row.reason = local, remote, base, d.reason[:200]
        settled = {d.field for d in plan.decisions if d.action in (Action.AGREE, Action.NOOP, Action.PUSH, Action.PULL)}
        for f, row in open_rows.items():
            if f in settled:  # the sides settled it themselves (or a rule now does)
                row.status, row.resolution, row.resolved_by, row.resolved_at = "resolved", "converged", ACTOR, utcnow()

    def _record(self, link_id: int, outcome: str, **details: Any) -> None:
        self.report.add(outcome)
        if len(self.report.records) < MAX_REPORTED_RECORDS:
            self.report.records.append({"link_id": link_id, "outcome": outcome, **details})


# --- helpers --------------------------------------------------------------------------------------------

def _write_lock_first(s: Session) -> None:
    """On SQLite, take the write lock before reading: a transaction that reads and then writes fails at once
    ("database is locked", no busy wait) when another connection committed in between, e.g. the webhook
    intake storing the event Xero sends for the write this pair just made."""
    if s.get_bind().dialect.name == "sqlite":
        s.execute(text("UPDATE links SET id = id WHERE 0"))


def _set_state(s: Session, states: dict[str, FieldSyncState], link_id: int, f: str, value: str | None, digest: str,
               source: str) -> None:
    row = states.get(f)
    if row is None:
        states[f] = FieldSyncState(link_id=link_id, field=f, base_value=value, base_hash=digest, source=source,
                                   synced_at=utcnow())
        s.add(states[f])
    elif row.base_hash != digest or row.base_value != value:
        row.base_value, row.base_hash, row.source, row.synced_at = value, digest, source, utcnow()


def local_column(f: str) -> str:
    """The `clients` column holding a flattened canonical field."""
    if f == "name":
        return "display_name"
    prefix, _, part = f.partition(".")
    if part:
        return f"{'street' if prefix == 'address' else 'postal'}_{part}"
    return f


def column_value(f: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    if f == "date_of_birth" and not isinstance(value, date):
        return date.fromisoformat(str(value))
    if f == "status":  # local records are never "deleted": a remote delete archives at most
        status = ClientStatus(value)
        return (ClientStatus.ARCHIVED if status == ClientStatus.DELETED else status).value
    return value


def _unknown_fields(remote: ClientProfile) -> frozenset[str]:
    # XPM's paged-list leaves business numbers out (`extra["detailed"] = False`): unknown is not blank.
    return frozenset({"business_number"}) if remote.extra.get("detailed") is False else frozenset()


def _local_newer(local_at: datetime | None, remote_at: datetime | None) -> bool | None:
    if local_at is None or remote_at is None:
        return None
    return _aware(local_at) > _aware(remote_at)


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _with_whole_lines(pushes: dict[str, Any], remote: dict[str, Any], writable: frozenset[str]) -> dict[str, Any]:
    """Address lines 1 and 2 share one element on some systems (XPM): pushing one line sends the other as the
    cached record has it, so the adapter need not read the record first."""
    out = dict(pushes)
    for prefix in ("address", "postal_address"):
        lines = (f"{prefix}.line1", f"{prefix}.line2")
        if (lines[0] in out) != (lines[1] in out) and set(lines) <= writable:
            for line in lines:
                out.setdefault(line, remote.get(line))
    return out
