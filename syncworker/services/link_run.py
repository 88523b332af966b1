"""The link run: the main job. For one tenant and one system it

1. pulls the system's clients through the adapter into the records cache, checkpointed after every page
   (a run that dies resumes from the last page it stored);
2. finds duplicate people and organisations among the local records;
3. matches unlinked local clients against unlinked remote clients;
4. records the outcome: certain matches linked, uncertain ones queued for review, individuals with
   unresolved duplicates flagged "merge required" (never auto-linked), links whose remote record was
   deleted marked broken, and the unmatched on each side reported.

Existing links are kept. A pair an operator rejected (or unlinked) is not suggested again unless one of the
two records has changed since. `dry_run` computes and reports everything and writes nothing but the run's
own record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.base import ClientSystem
from syncworker.domain.profile import ClientProfile, ClientStatus
from syncworker.matching import MatchConfig, match_records
from syncworker.services import duplicates as dup
from syncworker.services.context import ServiceContext
from syncworker.services.links import LinkError, make_linked, record_event
from syncworker.services.pull import MISSING, Pulled, pull_clients
from syncworker.services.relationship_sync import fold_relationship_report, sync_relationships
from syncworker.services.run_frame import RunRefused, RunReport, guarded_run
from syncworker.services.runs import RunRecorder
from syncworker.services.snapshots import load_clients, upsert_clients
from syncworker.store.models import Client, Link, RemoteRecord

# RunRefused is re-exported for callers that know it from here.
__all__ = ["LinkRunReport", "RunRefused", "run_link_run"]
ACTOR = "link-run"
RELATIONSHIP_FETCHES_PER_LINK_RUN = 20  # fall-back reads only: two runs stay inside one minute's 60 calls
Progress = Callable[[str, int, int | None], None]  # phase, done, total
# The phases a link run reports, in order (`relationships` only where the system has them). Each is written to
# the run's record (`RunRecorder.step`, throttled) for the console, and given to `progress` for the CLI's bar.
PHASES = ("pull", "load", "duplicates", "broken links", "match", "write", "relationships")
WRITE_BATCH = 200  # decisions per write transaction: short, so other writers wait milliseconds, not the run


@dataclass
class LinkRunReport(RunReport):
    linked: list[dict[str, Any]] = field(default_factory=list)
    to_review: list[dict[str, Any]] = field(default_factory=list)
    merge_required: list[dict[str, Any]] = field(default_factory=list)
    broken: list[dict[str, Any]] = field(default_factory=list)
    unmatched_local: list[dict[str, Any]] = field(default_factory=list)
    unmatched_remote: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)


def run_link_run(
    ctx: ServiceContext, tenant_name: str, system: str, *, dry_run: bool = False, trigger: str = "cli",
    run_id: int | None = None, progress: Progress | None = None, config: MatchConfig | None = None,
) -> LinkRunReport:
    def work(report: LinkRunReport) -> Any:
        return lambda tenant_id, adapter, runs: _LinkRun(
            ctx, tenant_id, system, adapter, report, progress or _no_progress, config or ctx.settings.matching, runs,
        ).execute()

    return guarded_run(
        ctx, tenant_name, system, "link_run", dry_run=dry_run, trigger=trigger, run_id=run_id,
        params={"system": system, "dry_run": dry_run},
        make_report=lambda rid: LinkRunReport(rid, tenant_name, system, dry_run), work=work,
        has_failures=lambda r: bool(r.errors),
    )


def _no_progress(phase: str, done: int, total: int | None) -> None:
    return None


@dataclass(frozen=True, slots=True)
class _ClientRow:
    id: int
    external_id: str | None
    display_name: str
    kind: str
    version: int


@dataclass(frozen=True, slots=True)
class _LinkRow:
    id: int
    client_id: int
    remote_id: str
    status: str
    local_version_at_decision: int | None
    remote_hash_at_decision: str | None


@dataclass
class _LocalSnapshot:
    """What the link run reads before it decides: plain values, usable once the read transaction is over."""

    clients: list[_ClientRow]
    profiles: list[ClientProfile]  # ids `client:<primary key>` (`duplicates.client_profiles`): shared with the dedupe
    links: list[_LinkRow]
    hashes: dict[str, str | None]  # remote id -> payload hash in the records cache

    @property
    def clients_by_id(self) -> dict[int, _ClientRow]:
        return {c.id: c for c in self.clients}

    @classmethod
    def read(cls, s: Session, tenant_id: int, system: str, rows: list[Client]) -> _LocalSnapshot:
        """`rows`: the tenant's unmerged clients (`duplicates.unmerged_clients`), read once for this and for
        the duplicate search, which takes these profiles too."""
        clients = [_ClientRow(c.id, c.external_id, c.display_name, c.kind, c.version) for c in rows]
        profiles = dup.client_profiles(rows)
        links = [_LinkRow(lk.id, lk.client_id, lk.remote_id, lk.status, lk.local_version_at_decision,
                          lk.remote_hash_at_decision)
                 for lk in s.scalars(select(Link).where(Link.tenant_id == tenant_id, Link.system == system))]
        hashes = dict(s.execute(select(RemoteRecord.remote_id, RemoteRecord.payload_hash).where(
            RemoteRecord.tenant_id == tenant_id, RemoteRecord.system == system,
            RemoteRecord.record_type == "client")).all())
        return cls(clients, profiles, links, hashes)


class _LinkRun:
    def __init__(self, ctx: ServiceContext, tenant_id: int, system: str, adapter: ClientSystem,
                 report: LinkRunReport, progress: Progress, config: MatchConfig, runs: RunRecorder) -> None:
        self.ctx, self.db, self.tenant_id, self.system = ctx, ctx.db, tenant_id, system
        self.adapter, self.report, self.progress, self.config, self.runs = adapter, report, progress, config, runs
        self.dry = report.dry_run
        self.counts = report.counts

    def step(self, phase: str, done: int | None = None, total: int | None = None, **detail: Any) -> None:
        """Where the run is: to the caller's progress display, and to the run's record for the console."""
        self.progress(phase, done if done is not None else detail.get("records", 0), total)
        self.runs.step(self.report.run_id, phase, done, total, **detail)

    def execute(self) -> None:
        """Read, decide outside any transaction, then write in short transactions: on SQLite a write
        transaction holds the one write lock, so matching inside it would block every other writer (the
        API, webhooks, other tenants' runs) for the whole matching time."""
        remote = self._pull()
        self.step("load")
        with self.db.read() as s:
            rows = dup.unmerged_clients(s, self.tenant_id)
            local = _LocalSnapshot.read(s, self.tenant_id, self.system, rows)
            people, orgs = dup.local_records(s, self.tenant_id, rows, local.profiles)
        self.counts["local_clients"] = len(local.clients)
        self.counts["remote_clients"] = sum(1 for p in remote.values() if p.status == ClientStatus.ACTIVE)
        merge_required = self._duplicates(people, orgs)
        self._broken(local, remote)
        self._match(local, remote, merge_required)
        if not self.dry and self.adapter.capabilities.relationships:
            # Links may have changed: relationships and group members that waited for them complete now,
            # from the detailed records just pulled (no call per client). Only records known as summaries (the
            # paged-list fall-back) cost a read each: a link run spends a small budget on them and leaves the
            # rest, and listing groups with their members, to the syncs.
            self.step("relationships")
            rel = sync_relationships(self.ctx, self.report.tenant, self.system, run_id=self.report.run_id,
                                     adapter=self.adapter, hold_lock=False,
                                     max_fetches=RELATIONSHIP_FETCHES_PER_LINK_RUN, read_groups=False)
            fold_relationship_report(self.report, rel)

    # --- 1. pull ---
    def _pull(self) -> dict[str, ClientProfile]:
        """The shared pull (`services/pull.py`: a full listing the first time, then incremental from the
        cursor every run shares) into the records cache. Returns every remote client the cache holds, as of
        this pull: a repeated link run costs one call, not a listing of the whole practice."""
        def on_page(p: Pulled) -> None:
            self.step("pull", pages=p.pages, records=len(p.seen))

        self.counts.setdefault("pages", 0)
        pulled = pull_clients(self.db, self.tenant_id, self.system, self.adapter, dry=self.dry, on_page=on_page,
                              counts=self.counts, errors=self.report.errors)
        with self.db.session() as s:
            remote = {p.id: p for row, p in load_clients(s, self.tenant_id, self.system)
                      if row.remote_status != MISSING}
        remote.update(pulled.seen)
        if pulled.listing_ids is not None:  # a completed full listing: what it lacks is not there any more
            remote = {rid: p for rid, p in remote.items() if rid in pulled.listing_ids}
        return remote

    # --- writing: short transactions (a dry run rolls each back) ---
    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self.db.session() as s:
            yield s
            if self.dry:
                s.rollback()

    # --- 2. duplicates ---
    def _duplicates(self, people: list[ClientProfile], orgs: list[ClientProfile]) -> set[int]:
        records = len(people) + len(orgs)
        self.step("duplicates", 0, records)
        found = dup.detect(people, orgs, self.config)  # outside any transaction
        self.step("duplicates", records, records)
        with self._write() as s:
            c = dup.persist(s, self.tenant_id, found)
            # Resolved clusters (merged / not duplicates) are not reported again.
            resolved = set(s.scalars(select(dup.DuplicateCluster.fingerprint).where(
                dup.DuplicateCluster.tenant_id == self.tenant_id, dup.DuplicateCluster.status != "unresolved")))
            merge_required = dup.merge_required_client_ids(s, self.tenant_id)
        self.counts["duplicate_clusters"] = sum(1 for f in found if f.cluster_type == "duplicate")
        self.counts["same_person_clusters"] = sum(1 for f in found if f.cluster_type == "same_person")
        self.counts["duplicate_clusters_new"] = c["new"]
        names = {p.id: p.name for p in people + orgs}
        for f in found:
            if f.fingerprint not in resolved:
                self.report.duplicates.append({"type": f.cluster_type, "members": [names.get(m, m) for m in f.members],
                                               "refs": list(f.members), "score": round(f.score, 4),
                                               "reasons": f.reasons})
        return merge_required

    # --- 4a. broken links ---
    def _broken(self, local: _LocalSnapshot, remote: dict[str, ClientProfile]) -> None:
        linked = [link for link in local.links if link.status == "linked"]
        self.step("broken links", 0, len(linked))
        # Full listings leave out archived and deleted clients: ask for those, `read_batch_size` a call (APS: a
        # page of keys per query, not a query for the record and one for its addresses per client), and cache
        # each batch in one transaction. No transaction is open during a call.
        unknown = list(dict.fromkeys(link.remote_id for link in linked if link.remote_id not in remote))
        batch, known = max(1, self.adapter.read_batch_size), len(linked) - len(unknown)
        for start in range(0, len(unknown), batch):
            # Progress is told before each call, the one slow step, not per link: a step per link (throttled,
            # but still ~20 µs each, 2 s per 100k links) cost far more than checking the links.
            self.step("broken links", known + start, len(linked))
            found = self.adapter.get_clients(unknown[start:start + batch])
            if found and not self.dry:
                with self.db.session() as s:
                    upsert_clients(s, self.tenant_id, self.system, found)
            for p in found:
                if p.status != ClientStatus.DELETED:
                    remote[p.id] = p  # archived: the link stands, and is reported with the record
        gone = [link for link in linked
                if (p := remote.get(link.remote_id)) is None or p.status == ClientStatus.DELETED]
        self.step("broken links", len(linked), len(linked))
        by_id = local.clients_by_id
        with self._write() as s:
            for row in gone:
                link = s.get(Link, row.id)
                if link is None or link.status != "linked":
                    continue  # changed since it was read (an operator unlinked it): nothing to break
                client = by_id.get(link.client_id)
                link.status = "broken"
                record_event(s, link, "broken", ACTOR, "linked", {"reason": "remote record deleted"},
                             self.report.run_id)
                self.report.broken.append({"local_id": client.external_id if client else None,
                                           "local_name": client.display_name if client else None,
                                           "remote_id": link.remote_id, "reason": "deleted in " + self.system})
        self.counts["broken"] = len(self.report.broken)

    # --- 3/4. match and record ---
    def _match(self, local: _LocalSnapshot, remote: dict[str, ClientProfile], merge_required: set[int]) -> None:
        links, clients = local.links, local.clients
        linked_local = {lk.client_id for lk in links if lk.status in ("linked", "broken")}
        linked_remote = {lk.remote_id for lk in links if lk.status == "linked"}
        self.counts["links_kept"] = sum(1 for lk in links if lk.status == "linked") - len(self.report.broken)
        decided = {(lk.client_id, lk.remote_id): lk for lk in links if lk.status == "rejected"}
        suggested = {(lk.client_id, lk.remote_id): lk for lk in links if lk.status == "suggested"}

        # Linked records still take part in matching: they are the rivals that made a run's decisions what
        # they were, so leaving them out would let the next run decide differently on unchanged data.
        by_key = {f"client:{c.id}": c for c in clients}  # the profiles' ids
        # Archived records are candidates only where already linked (a full detailed listing has them all).
        candidates_remote = [p for p in remote.values()
                             if p.status == ClientStatus.ACTIVE or (p.status == ClientStatus.ARCHIVED
                                                                    and p.id in linked_remote)]
        self.step("match", 0, len(local.profiles))
        # Outside any transaction: nothing waits on the matching.
        # A competing client is named in the reasons by its external id, as the operator and the console's
        # review page know it, not by the profiles' `client:<pk>`.
        names = {key: c.external_id for key, c in by_key.items()}
        candidates = match_records(local.profiles, candidates_remote, self.config,
                                   local_names=names) if local.profiles else []
        candidates = [c for c in candidates
                      if by_key[c.local_id].id not in linked_local and c.remote_id not in linked_remote]
        self.step("match", len(local.profiles), len(local.profiles))

        matched_local, matched_remote = set(), set()
        ordered = sorted(candidates, key=lambda c: -c.score)
        for start in range(0, len(ordered), WRITE_BATCH):
            self.step("write", start, len(ordered))
            with self._write() as s:  # a short transaction per batch of decisions
                for cand in ordered[start:start + WRITE_BATCH]:
                    client = by_key[cand.local_id]
                    matched_local.add(client.id)
                    matched_remote.add(cand.remote_id)
                    self._record(s, cand, client, remote[cand.remote_id], local.hashes,
                                 decided.get((client.id, cand.remote_id)), suggested.get((client.id, cand.remote_id)),
                                 merge_required)
        self.step("write", len(ordered), len(ordered))

        for c in clients:
            if c.id not in linked_local and c.id not in matched_local:
                self.report.unmatched_local.append({"local_id": c.external_id, "local_name": c.display_name,
                                                    "kind": c.kind})
        for rid, p in remote.items():
            if rid not in linked_remote and rid not in matched_remote and p.status == ClientStatus.ACTIVE:
                self.report.unmatched_remote.append({"remote_id": rid, "remote_name": p.name, "kind": p.kind.value})
        self.counts.update(linked_new=len(self.report.linked), to_review=len(self.report.to_review),
                           merge_required=len(self.report.merge_required),
                           unmatched_local=len(self.report.unmatched_local),
                           unmatched_remote=len(self.report.unmatched_remote))

    def _record(self, s: Session, cand: Any, client: _ClientRow, rp: ClientProfile, hashes: dict[str, str | None],
                prior: _LinkRow | None, suggestion: _LinkRow | None, merge_required: set[int]) -> None:
        """One decision, written in the batch's transaction. What changed since the read (an operator linked
        either record meanwhile) is skipped and counted, never a failed run."""
        entry = {"local_id": client.external_id, "local_name": client.display_name, "remote_id": rp.id,
                 "remote_name": rp.name, "score": round(cand.score, 4), "reasons": list(cand.reasons)}
        if prior is not None and prior.local_version_at_decision == client.version \
                and prior.remote_hash_at_decision == hashes.get(rp.id):
            self.counts["rejected_unchanged"] = self.counts.get("rejected_unchanged", 0) + 1
            return
        if client.id in merge_required:
            entry["action"] = "merge duplicates first (see `syncworker duplicates list`)"
            self.report.merge_required.append(entry)
            return
        existing = s.get(Link, suggestion.id) if suggestion is not None else None
        if existing is not None and existing.status != "suggested":
            existing = None
        if cand.decision == "link":
            orm_client = s.get(Client, client.id)
            try:
                if orm_client is None:
                    raise LinkError("the client is gone")
                # Checks before it writes: a refusal leaves the batch's transaction as it was.
                make_linked(s, tenant_id=self.tenant_id, system=self.system, client=orm_client, remote_id=rp.id,
                            method="auto", actor=ACTOR, score=cand.score, reasons=list(cand.reasons),
                            existing=existing, run_id=self.report.run_id)
            except LinkError:
                self.counts["changed_since_read"] = self.counts.get("changed_since_read", 0) + 1
                return
            self.report.linked.append(entry)
            return
        link = existing
        if link is None:
            link = Link(tenant_id=self.tenant_id, system=self.system, client_id=client.id, remote_id=rp.id,
                        status="suggested", method="auto", run_id=self.report.run_id, reasons=[])
            s.add(link)
            link.score, link.reasons = cand.score, list(cand.reasons)
            s.flush()
            record_event(s, link, "suggested", ACTOR, None, {"score": cand.score}, self.report.run_id)
        else:
            link.score, link.reasons = cand.score, list(cand.reasons)
        entry["review_id"] = link.id
        self.report.to_review.append(entry)

