"""Orchestrate: merge linked pairs a batch at a time, for a sync or a webhook pull.

Per batch: plan each pair from one consistent read (`domain/sync.py` per field, `domain/pair_sync.py`
around it), write the remote side of all of them with one `update_clients` (the adapter batches as its API
allows; write-ahead audited), then one local transaction per pair that applies pulled values, stores the
remote as written, moves the bases to the values now on both sides, queues or closes conflicts and records
`last_pushed_version`. A crash between the remote write and the local commit leaves remote == local on the
pushed fields, so the retry's merge sees agreement and writes nothing. One pair's failure fails that pair
only; the daily limit and a lost grant stop the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from adapters.base import ClientSystem
from adapters.errors import AdapterError, DailyLimitReached, ReconnectRequired
from syncworker.domain.pair_sync import (
    PairPlan,
    local_newer,
    merge_required,
    unknown_fields,
    with_whole_lines,
)
from syncworker.domain.profile import ClientProfile, ClientStatus, flatten
from syncworker.domain.serialize import profile_from_dict, profile_to_dict
from syncworker.domain.sync import Action, FieldRules, comparable_fields, decode, merge_record, would_do
from syncworker.domain.write_budget import WriteAllowance
from syncworker.services.context import ServiceContext
from syncworker.services.run_frame import RunReport
from syncworker.services.runs import RunRecorder
from syncworker.services.snapshots import record_hash, upsert_clients
from syncworker.services.sync_store import RECORD_MARK, SyncStore, set_state
from syncworker.store.crypto import shown_value
from syncworker.store.mapping import client_profile, json_ready
from syncworker.store.models import Client, Link

log = logging.getLogger(__name__)
OUTCOMES = ("created", "updated", "unchanged", "conflicts", "skipped", "failed")
MAX_REPORTED_RECORDS = 2000
T = TypeVar("T")


@dataclass
class SyncReport(RunReport):
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    trigger: str = "cli"
    records: list[dict[str, Any]] = field(default_factory=list)  # every record that was not unchanged
    archived: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)


class PairMerger:
    def __init__(self, ctx: ServiceContext, tenant_id: int, system: str, adapter: ClientSystem, report: SyncReport,
                 rules: FieldRules, runs: RunRecorder) -> None:
        self.ctx, self.db, self.tenant_id, self.system = ctx, ctx.db, tenant_id, system
        self.adapter, self.report, self.rules, self.runs = adapter, report, rules, runs
        self.dry = report.dry_run
        self.country = ctx.settings.default_country
        self.store = SyncStore(tenant_id, system, country=self.country)
        self.writable = frozenset(adapter.capabilities.writable_fields) if adapter.capabilities.can_update \
            else frozenset()
        self.pending = 0  # pairs whose pushes wait for a later day (the day's write allowance is spent)

    def allowance(self) -> WriteAllowance:
        """What today's budget lets this run write (the adapter knows the tenant's day budget and reserve)."""
        return WriteAllowance(self.adapter.write_calls_left(), max(self.adapter.write_batch_size, 1),
                              self.adapter.write_calls_per_day())

    def merge_link(self, link_id: int, pulled: ClientProfile | None, *, force: bool = False) -> None:
        self.merge_links([(link_id, pulled)], force=force)

    def merge_links(self, pairs: list[tuple[int, ClientProfile | None]], *, force: bool = False) -> None:
        """Plan each pair, write the remote side of all of them with one `update_clients` (the adapter batches
        as its API allows), then apply each pair locally. One pair's failure fails that pair only."""
        plans: list[PairPlan] = []
        for link_id, pulled in pairs:
            plan = self._guard(link_id, lambda lid=link_id, p=pulled: self._plan(lid, p, force))
            if plan is not None:
                plans.append(plan)
        stored: dict[int, ClientProfile | Exception] = {}
        to_push = [p for p in plans if p.fields(Action.PUSH)]
        if to_push and not self.dry:
            to_push, later = self.allowance().split(to_push)
            for p in later:
                p.deferred = True
            self.pending += len(later)
            stored = self._push(to_push) if to_push else {}
        for plan in plans:
            self._guard(plan.link_id, lambda p=plan: self._apply(p, stored.get(p.link_id)))

    def _guard(self, link_id: int, step: Callable[[], T]) -> T | None:
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

    def _plan(self, link_id: int, pulled: ClientProfile | None, force: bool) -> PairPlan | None:
        with self.db.read() as s:  # a plan only reads: no write lock (on SQLite) while its merge is worked out
            link = s.get(Link, link_id)
            if link is None or link.status != "linked":
                return None
            client = s.get(Client, link.client_id)
            if client is None or client.merged_into_id is not None:
                self._record(link_id, "skipped", reason="the local record was merged into another")
                return None
            remote = pulled
            if remote is None:
                payload = self.store.remote_payload(s, link.remote_id)
                remote = profile_from_dict(payload) if payload else None
            ids = {"local_id": client.external_id, "remote_id": link.remote_id, "name": client.display_name}
            if remote is None:
                self._record(link_id, "skipped", reason="remote record not pulled yet", **ids)
                return None
            if remote.status in (ClientStatus.ARCHIVED, ClientStatus.DELETED):
                self._record(link_id, "skipped", reason=f"{remote.status.value} in {self.system}", **ids)
                return None
            states = self.store.states(s, link_id)
            mark = states.pop(RECORD_MARK, None)
            remote_hash = record_hash(s, profile_to_dict(remote))
            first = not states
            if not (force or first or merge_required(
                    merged_hash=mark.base_hash if mark is not None else None, remote_hash=remote_hash,
                    last_pushed_version=link.last_pushed_version, version=client.version)):
                self.report.add("unchanged")
                return None
            local_flat, remote_flat = flatten(client_profile(client)), flatten(remote)
            comparable = comparable_fields(self.system, self.rules, self.writable, unknown_fields(remote))
            bases = {f: decode(st.base_value) for f, st in states.items() if f in comparable}
            decisions = merge_record(self.system, self.rules, local=local_flat, remote=remote_flat, bases=bases,
                                     remote_writable=self.writable, comparable=comparable,
                                     local_newer=local_newer(client.updated_at, remote.modified_at),
                                     country=self.country)
            return PairPlan(link_id, client.version, client.external_id, link.remote_id, client.display_name, first,
                            decisions, local_flat, remote_flat, remote_hash)

    def _apply(self, plan: PairPlan, written: ClientProfile | Exception | None) -> None:
        pushes, pulls = plan.fields(Action.PUSH), plan.fields(Action.PULL)
        ids = {"local_id": plan.local_id, "remote_id": plan.remote_id, "name": plan.name}
        changes = {"pushed": sorted(pushes), "pulled": sorted(pulls), "conflicts": [d.field for d in plan.conflicts]}
        if self.dry:  # what it would write, and the conflicts it would open, value by value (counted too, so
            # a dry run queued over HTTP says as much in its counts)
            self.report.add("would_write_fields", len(pushes) + len(pulls))
            self.report.add("would_open_conflicts", len(plan.conflicts))
            self._record(plan.link_id, plan.outcome, **ids, **changes,
                         **would_do(plan.decisions, plan.local_before, plan.remote_before, shown=shown_value))
            return
        if isinstance(written, Exception):
            raise written
        stored = written if pushes else None
        if pushes and stored is None:
            raise AdapterError(f"{self.system} did not answer the write of {plan.remote_id}")
        with self.db.session() as s:
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
                self.store.write_local(s, client, pulls, plan, self.report.run_id)
                self.report.add("local_writes")
            remote_hash = plan.remote_hash
            if stored is not None:
                upsert_clients(s, self.tenant_id, self.system, [stored])
                remote_hash = record_hash(s, profile_to_dict(stored))
            states = self.store.states(s, plan.link_id)
            opened = self.store.queue_conflicts(s, plan, states, self.report.run_id)
            if opened:
                self.report.add("conflicts_new", opened)
            self.store.move_bases(s, plan, states)
            if not plan.deferred:  # a pair with pushes still to make stays due for the next run
                set_state(s, states, plan.link_id, RECORD_MARK, None, remote_hash, "remote")
                s.flush()  # the version now includes the pulled values
                link.last_pushed_version = client.version
        self.report.add("pushed_fields", len(pushes))
        self.report.add("pulled_fields", len(pulls))
        if plan.deferred:
            changes["pending_push"] = plan.pending_pushes
        self._record(plan.link_id, plan.outcome, **ids, **changes)

    def _push(self, plans: list[PairPlan]) -> dict[int, ClientProfile | Exception]:
        """The remote writes of `plans` in one `update_clients`, write-ahead audited; returns per link the
        record as stored or the error that refused it. A failure of the whole call fails every record in
        it (a day limit or a lost grant stops the run)."""
        audit = {p.link_id: (json_ready({f: p.remote_before.get(f) for f in p.fields(Action.PUSH)}),
                             json_ready(p.fields(Action.PUSH))) for p in plans}
        with self.db.session() as s:  # write-ahead: the log never misses a remote write
            for p in plans:
                self.store.audit_update(s, p, "update", *audit[p.link_id], self.report.run_id)
        try:
            by_remote = self.adapter.update_clients(
                {p.remote_id: with_whole_lines(p.fields(Action.PUSH), p.remote_before, self.writable) for p in plans})
        except Exception as exc:
            self._audit_failed(plans, audit, exc)
            if isinstance(exc, DailyLimitReached | ReconnectRequired) or not isinstance(exc, AdapterError):
                raise
            return {p.link_id: exc for p in plans}
        out = {p.link_id: by_remote.get(p.remote_id) or AdapterError(f"no answer for {p.remote_id}") for p in plans}
        self._audit_failed([p for p in plans if isinstance(out[p.link_id], Exception)], audit, None, out)
        self.report.add("remote_writes", sum(not isinstance(v, Exception) for v in out.values()))
        return out

    def _audit_failed(self, plans: list[PairPlan], audit: dict[int, tuple[Any, Any]], exc: Exception | None,
                      each: dict[int, ClientProfile | Exception] | None = None) -> None:
        if not plans:
            return
        with self.db.session() as s:
            for p in plans:
                error = exc if exc is not None else (each or {}).get(p.link_id)
                self.store.audit_update(s, p, "update_failed", audit[p.link_id][0], {"error": type(error).__name__},
                                        self.report.run_id)

    def _record(self, link_id: int, outcome: str, **details: Any) -> None:
        self.report.add(outcome)
        if len(self.report.records) < MAX_REPORTED_RECORDS:
            self.report.records.append({"link_id": link_id, "outcome": outcome, **details})
