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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.base import ClientSystem
from syncworker.domain.profile import ClientProfile, ClientStatus
from syncworker.matching import MatchConfig, match_records
from syncworker.services import duplicates as dup
from syncworker.services.context import ServiceContext
from syncworker.services.links import make_linked, record_event
from syncworker.services.pull import MISSING, Pulled, pull_clients
from syncworker.services.relationship_sync import fold_relationship_report, sync_relationships
from syncworker.services.run_frame import RunRefused, RunReport, guarded_run
from syncworker.services.runs import RunRecorder
from syncworker.services.snapshots import load_clients, upsert_clients
from syncworker.store.mapping import client_profile
from syncworker.store.models import Client, Link, RemoteRecord

# RunRefused is re-exported for callers that know it from here.
__all__ = ["LinkRunReport", "RunRefused", "run_link_run"]
ACTOR = "link-run"
RELATIONSHIP_FETCHES_PER_LINK_RUN = 20  # fall-back reads only: two runs stay inside one minute's 60 calls
Progress = Callable[[str, int, int | None], None]  # phase, done, total


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


class _LinkRun:
    def __init__(self, ctx: ServiceContext, tenant_id: int, system: str, adapter: ClientSystem,
                 report: LinkRunReport, progress: Progress, config: MatchConfig, runs: RunRecorder) -> None:
        self.ctx, self.db, self.tenant_id, self.system = ctx, ctx.db, tenant_id, system
        self.adapter, self.report, self.progress, self.config, self.runs = adapter, report, progress, config, runs
        self.dry = report.dry_run
        self.counts = report.counts

    def execute(self) -> None:
        remote = self._pull()
        with self.db.session() as s:
            local_clients = list(s.scalars(select(Client).where(Client.tenant_id == self.tenant_id,
                                                                Client.merged_into_id.is_(None))))
            self.counts["local_clients"] = len(local_clients)
            self.counts["remote_clients"] = sum(1 for p in remote.values() if p.status == ClientStatus.ACTIVE)
            merge_required = self._duplicates(s)
            self._broken(s, remote)
            self._match(s, local_clients, remote, merge_required)
            if self.dry:
                s.rollback()
        if not self.dry and self.adapter.capabilities.relationships:
            # Links may have changed: relationships and group members that waited for them complete now,
            # from the detailed records just pulled (no call per client). Only records known as summaries (the
            # paged-list fall-back) cost a read each: a link run spends a small budget on them and leaves the
            # rest, and listing groups with their members, to the syncs.
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
            self.progress("pull", len(p.seen), None)
            self.runs.progress(self.report.run_id, phase="pull", pages=p.pages, records=len(p.seen))

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

    # --- 2. duplicates ---
    def _duplicates(self, s: Session) -> set[int]:
        self.progress("duplicates", 0, None)
        people, orgs = dup.local_records(s, self.tenant_id)
        found = dup.detect(people, orgs, self.config)
        c = dup.persist(s, self.tenant_id, found)
        self.counts["duplicate_clusters"] = sum(1 for f in found if f.cluster_type == "duplicate")
        self.counts["same_person_clusters"] = sum(1 for f in found if f.cluster_type == "same_person")
        self.counts["duplicate_clusters_new"] = c["new"]
        names = {p.id: p.name for p in people + orgs}
        # Resolved clusters (merged / not duplicates) are not reported again.
        resolved = set(s.scalars(select(dup.DuplicateCluster.fingerprint).where(
            dup.DuplicateCluster.tenant_id == self.tenant_id, dup.DuplicateCluster.status != "unresolved")))
        for f in found:
            if f.fingerprint not in resolved:
                self.report.duplicates.append({"type": f.cluster_type, "members": [names.get(m, m) for m in f.members],
                                               "refs": list(f.members), "score": round(f.score, 4),
                                               "reasons": f.reasons})
        return dup.merge_required_client_ids(s, self.tenant_id)

    # --- 4a. broken links ---
    def _broken(self, s: Session, remote: dict[str, ClientProfile]) -> None:
        for link in s.scalars(select(Link).where(Link.tenant_id == self.tenant_id, Link.system == self.system,
                                                 Link.status == "linked")):
            p = remote.get(link.remote_id)
            if p is not None and p.status != ClientStatus.DELETED:
                continue
            if p is None:
                # Full listings leave out archived and deleted clients: ask for this one.
                p = self.adapter.get_client(link.remote_id)
                if p is not None and not self.dry:
                    upsert_clients(s, self.tenant_id, self.system, [p])
                if p is not None and p.status != ClientStatus.DELETED:
                    remote[p.id] = p  # archived: the link stands, and is reported with the record
                    continue
            client = s.get(Client, link.client_id)
            link.status = "broken"
            record_event(s, link, "broken", ACTOR, "linked", {"reason": "remote record deleted"}, self.report.run_id)
            self.report.broken.append({"local_id": client.external_id if client else None,
                                       "local_name": client.display_name if client else None,
                                       "remote_id": link.remote_id, "reason": "deleted in " + self.system})
        self.counts["broken"] = len(self.report.broken)

    # --- 3/4. match and record ---
    def _match(self, s: Session, clients: list[Client], remote: dict[str, ClientProfile],
               merge_required: set[int]) -> None:
        links = list(s.scalars(select(Link).where(Link.tenant_id == self.tenant_id, Link.system == self.system)))
        linked_local = {lk.client_id for lk in links if lk.status in ("linked", "broken")}
        linked_remote = {lk.remote_id for lk in links if lk.status == "linked"}
        self.counts["links_kept"] = sum(1 for lk in links if lk.status == "linked")
        decided = {(lk.client_id, lk.remote_id): lk for lk in links if lk.status == "rejected"}
        suggested = {(lk.client_id, lk.remote_id): lk for lk in links if lk.status == "suggested"}
        hashes = dict(s.execute(select(RemoteRecord.remote_id, RemoteRecord.payload_hash).where(
            RemoteRecord.tenant_id == self.tenant_id, RemoteRecord.system == self.system,
            RemoteRecord.record_type == "client")).all())

        # Linked records still take part in matching: they are the rivals that made a run's decisions what
        # they were, so leaving them out would let the next run decide differently on unchanged data.
        by_key = {str(c.id): c for c in clients}
        local_profiles = []
        for c in clients:
            p = client_profile(c)
            p.id = str(c.id)
            local_profiles.append(p)
        # Archived records are candidates only where already linked (a full detailed listing has them all).
        candidates_remote = [p for p in remote.values()
                             if p.status == ClientStatus.ACTIVE or (p.status == ClientStatus.ARCHIVED
                                                                    and p.id in linked_remote)]
        self.progress("match", 0, len(local_profiles))
        candidates = match_records(local_profiles, candidates_remote, self.config) if local_profiles else []
        candidates = [c for c in candidates
                      if by_key[c.local_id].id not in linked_local and c.remote_id not in linked_remote]
        self.progress("match", len(local_profiles), len(local_profiles))

        matched_local, matched_remote = set(), set()
        for cand in sorted(candidates, key=lambda c: -c.score):
            client = by_key[cand.local_id]
            rp = remote[cand.remote_id]
            entry = {"local_id": client.external_id, "local_name": client.display_name, "remote_id": rp.id,
                     "remote_name": rp.name, "score": round(cand.score, 4), "reasons": list(cand.reasons)}
            matched_local.add(client.id)
            matched_remote.add(rp.id)
            prior = decided.get((client.id, rp.id))
            if prior is not None and prior.local_version_at_decision == client.version \
                    and prior.remote_hash_at_decision == hashes.get(rp.id):
                self.counts["rejected_unchanged"] = self.counts.get("rejected_unchanged", 0) + 1
                continue
            if client.id in merge_required:
                entry["action"] = "merge duplicates first (see `syncworker duplicates list`)"
                self.report.merge_required.append(entry)
                continue
            if cand.decision == "link":
                make_linked(s, tenant_id=self.tenant_id, system=self.system, client=client, remote_id=rp.id,
                            method="auto", actor=ACTOR, score=cand.score, reasons=list(cand.reasons),
                            existing=suggested.get((client.id, rp.id)), run_id=self.report.run_id)
                self.report.linked.append(entry)
                continue
            link = suggested.get((client.id, rp.id))
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
