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

Where each part lives: this module is the entry points and the sync's own steps (pull, change capture, webhook
pulls); `services/pair_merge.py` merges and writes pairs a batch at a time; `services/sync_store.py` is the
local state it reads and writes; `domain/pair_sync.py` and `domain/sync.py` the decisions, on plain data.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from syncworker.domain.profile import ClientProfile, ClientStatus
from syncworker.domain.sync import FieldRules
from syncworker.domain.write_budget import pending_message
from syncworker.jobs.base import JobRequest
from syncworker.services.context import ServiceContext
from syncworker.services.field_rules import tenant_field_rules
from syncworker.services.pair_merge import PairMerger, SyncReport
from syncworker.services.pull import Pulled, pull_clients
from syncworker.services.run_frame import RunRefused, guarded_run
from syncworker.services.snapshots import upsert_clients
from syncworker.services.systems import SYSTEMS
from syncworker.services.tenants import get_tenant
from syncworker.store.models import Link, TenantSystem

__all__ = ["PULLED_CATEGORIES", "SyncEngine", "SyncReport", "linked_systems", "run_sync", "run_sync_job",
           "run_webhook_pull", "run_webhook_pull_job"]

PULL_BATCH = 50  # webhook resources read (and merged) at a time: Xero's `IDs=` takes 50
PULLED_CATEGORIES = frozenset({"CONTACT"})  # webhook events a pull reads; the others are only recorded


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

class SyncEngine(PairMerger):
    """A sync's own steps; merging and writing the pairs is `PairMerger`'s."""

    # ---- sync ----
    def sync(self, *, full: bool) -> None:
        pulled, seen_all = self._pull(full=full)
        with self.db.read() as s:
            links = self.store.linked_pairs(s)
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
            self.runs.step(self.report.run_id, "merge", start, len(todo))
            chunk = todo[start:start + step]
            self.merge_links([(link_id, pulled.get(remote_id)) for link_id, remote_id in chunk], force=full)
        self.runs.step(self.report.run_id, "merge", len(todo), len(todo))
        if not self.dry and self.adapter.capabilities.relationships:
            self.runs.step(self.report.run_id, "relationships")
            from syncworker.services.relationship_sync import fold_relationship_report, sync_relationships

            rel = sync_relationships(self.ctx, self.report.tenant, self.system, run_id=self.report.run_id,
                                     adapter=self.adapter, hold_lock=False)
            fold_relationship_report(self.report, rel)
        if self.pending:
            self.report.counts["pushes_pending"] = self.pending
            self.report.message = pending_message(self.pending, self.allowance())
        with self.db.read() as s:
            self.report.counts["open_conflicts"] = self.store.open_conflicts(s)

    def _pull(self, *, full: bool) -> tuple[dict[str, ClientProfile], set[str] | None]:
        """Pull into the records cache (the shared loop and stream, `services/pull.py`). Returns this run's
        profiles by id and, for a completed full listing, every id the listing held."""
        def on_page(p: Pulled) -> None:
            self.runs.step(self.report.run_id, "pull", pages=p.pages, records=len(p.seen))

        pulled = pull_clients(self.db, self.tenant_id, self.system, self.adapter, full=full, dry=self.dry,
                              on_page=on_page, counts=self.report.counts)
        if not self.dry:
            with self.db.session() as s:
                covered = self.store.events_covered(s, pulled.started, self.report.run_id)
                if covered:
                    self.report.add("events_covered_by_pull", covered)
        return pulled.seen, pulled.listing_ids

    # ---- webhook pulls ----
    def webhook_pull(self, event_ids: list[int]) -> None:
        """Reads the contacts of the events with `get_clients` (Xero: 50 ids a call), a batch at a time, each
        batch merged and its events marked processed together. Only CONTACT events are read."""
        with self.db.read() as s:
            events = self.store.unprocessed_events(s, event_ids)
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
                self.store.mark_processed(s, not_contacts, self.report.run_id)
            self.report.add("events_not_pulled", len(not_contacts))
        resources = list(by_resource)
        step = max(PULL_BATCH, self.adapter.write_batch_size)
        for start in range(0, len(resources), step):
            self.runs.step(self.report.run_id, "webhook pull", start, len(resources))
            chunk = resources[start:start + step]
            found = {p.id: p for p in self.adapter.get_clients(chunk)}
            with self.db.session() as s:
                if found and not self.dry:
                    for k, v in upsert_clients(s, self.tenant_id, self.system, list(found.values())).items():
                        self.report.add(f"remote_{k}", v)
                ids = [i for rid in chunk for i in by_resource[rid]]
                self.store.mark_processed(s, ids, self.report.run_id)
                linked = self.store.linked_ids(s, chunk)
            self.report.add("events_processed", len(ids))
            self.report.add("remote_not_found", sum(rid not in found for rid in chunk))
            self.merge_links([(linked[rid], found[rid]) for rid in chunk if rid in found and rid in linked])
