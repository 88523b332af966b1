"""Orchestrate, relationships: read each linked client's relationships into the cache, then compare them
with the local connections against the base and write the differences to the side that lacks them.

Reads at the minimum: a detailed client record in the cache carries its relationships (no call); clients the
cache knows only as summaries are read by id, `adapter.read_batch_size` a call (XPM: one `get_client` each;
APS: a page of keys per query), at most `max_fetches` calls a run. A connection is
never pushed before both its clients' relationships were read (the system could hold it already). The
decisions are `domain/relationship_sync.py`; the cache is `services/relationship_store.py`.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.base import ClientSystem
from adapters.errors import AdapterError, DailyLimitReached, NotFound, ReconnectRequired
from syncworker.domain.connections import ConnectionRefused, RelationshipType, fact_key
from syncworker.domain.profile import Relationship
from syncworker.domain.relationship_sync import (
    Action,
    Key,
    cached_relationships,
    changed_since_base,
    key_of,
    plan_owner_reads,
    reconcile_action,
    relationships_digest,
    settled_base,
)
from syncworker.domain.serialize import content_hash, relationship_from_dict, relationship_to_dict
from syncworker.services import connections as conn_svc
from syncworker.services.relationship_store import (
    ACTOR,
    CONFLICT_PREFIX,
    FETCHED,
    REL,
    Links,
    RelationshipStore,
    RelationshipSyncReport,
)
from syncworker.services.snapshots import upsert_clients
from syncworker.store.db import Database
from syncworker.store.models import Client, Connection, RemoteRecord, SyncConflict


class RelationshipSync:
    def __init__(self, db: Database, store: RelationshipStore, adapter: ClientSystem,
                 report: RelationshipSyncReport, *, max_fetches: int = 200) -> None:
        self.db, self.store, self.adapter, self.report = db, store, adapter, report
        self.system = store.system
        self.types = conn_svc.relationship_types()
        self.max_fetches = max_fetches

    def run(self, *, full: bool) -> None:
        self.pull(full=full)
        self.reconcile()

    # ==== pull ====
    def pull(self, *, full: bool) -> None:
        """Each linked client's relationships into the cache: from its detailed record when the cache has
        one (no call), else one detailed read (budgeted)."""
        with self.db.session() as s:
            links = self.store.links(s)
            markers = {r.remote_id: r.payload for r in self.store.rows(s, FETCHED)}
            snapshots, present = self.store.client_extras(s)
        # The budget counts calls: a system that reads a batch of records per call (APS) reads that many owners.
        batch = max(1, self.adapter.read_batch_size)
        plan = plan_owner_reads(links.by_remote, links.link_ids, markers, snapshots, full=full,
                                max_fetches=self.max_fetches * batch)
        for owner, rels, digest in plan.from_cache:
            with self.db.session() as s:
                self.store.store_owner(s, owner, links.link_ids[owner], [relationship_from_dict(d) for d in rels],
                                       digest)
            self.report.add("relationship_owners_from_cache")
        # Clients the cache knows only as summaries cost a read each (a batch each where the system reads
        # batches): a budget per run keeps a large practice from spending the day's calls at once; the markers
        # let the next runs (days) go on.
        if plan.deferred:
            self.report.add("relationship_owners_pending", plan.deferred)
        for start in range(0, len(plan.fetch), batch):
            self._fetch(plan.fetch[start:start + batch], links, present)

    def _fetch(self, owners: list[str], links: Links, present: set[str]) -> None:
        """Read a batch of owners' records and relationships (`get_clients`, then `list_relationships_of` for
        those whose record does not carry them) and store them: one call each per batch, not per owner. Where
        records never carry relationships (APS), an owner the cache holds (`present`) is not read again:
        its relationships alone are (on APS one query per page of keys, not three)."""
        cached = set() if self.adapter.records_carry_relationships else present.intersection(owners)
        try:
            read = [o for o in owners if o not in cached]
            profiles = {p.id: p for p in self.adapter.get_clients(read)} if read else {}
            unlisted = [o for o in owners
                        if o in cached or (o in profiles and cached_relationships(profiles[o].extra) is None)]
            listed = self.adapter.list_relationships_of(unlisted) if unlisted else {}
        except NotFound:
            profiles, listed = {}, {}
        except (DailyLimitReached, ReconnectRequired):
            raise
        except AdapterError as exc:
            for owner in owners:
                self.report.errors.append({"remote_id": owner, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
            return
        with self.db.session() as s:
            if profiles:
                upsert_clients(s, self.store.tenant_id, self.system, list(profiles.values()))
            for owner in owners:
                profile = profiles.get(owner)
                rels = cached_relationships(profile.extra) if profile is not None else None
                fetched = ([relationship_from_dict(d) for d in rels] if rels is not None
                           else listed.get(owner, []))
                self.store.store_owner(s, owner, links.link_ids[owner], fetched,
                                       relationships_digest(relationship_to_dict(r) for r in fetched))
        self.report.add("relationship_owners_fetched", len(owners))

    # ==== reconcile ====
    def reconcile(self) -> None:
        with self.db.session() as s:
            links = self.store.links(s)
            rows = self.store.rows(s, REL)
            conns = list(s.scalars(select(Connection).where(Connection.tenant_id == self.store.tenant_id)))
            held = self._settle_conflicts(s, rows)
            read = {m.remote_id for m in self.store.rows(s, FETCHED)
                    if m.payload.get("link_id") == links.link_ids.get(m.remote_id)}
        remote: dict[Key, list[RemoteRecord]] = {}
        frozen: set[Key] = set()
        for row in rows:
            base_key = key_of(row.payload.get("base"))
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
            if (bk := key_of(row.payload.get("base"))) is not None:
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
                    missing = [cid for cid in (c.client_id, c.related_client_id) if cid not in links.by_local]
                    self.report.wait({"connection_id": c.id, "type": c.relationship_type,
                                      "reason": f"client(s) {missing} not linked to {self.system} yet"})
                continue
            unread = [cid for cid in (c.client_id, c.related_client_id) if links.by_local[cid] not in read]
            if unread and key not in remote and key not in based:
                # The system may hold it already on a record not read yet: pushing now could add it twice.
                self.report.wait({"connection_id": c.id, "type": c.relationship_type,
                                  "reason": f"relationships of client(s) {unread} not read from {self.system} yet"})
                continue
            local[key] = c
        for key in sorted(set(local) | set(remote) | set(based)):
            if key in held or key in frozen:
                continue
            with self.report.recording(relationship=list(key)):
                self._reconcile_one(key, local.get(key), remote.get(key, []), based.get(key, []), links)
        with self.db.session() as s:  # vanished rows nobody needs any more
            for row in self.store.rows(s, REL):
                if row.remote_status == "deleted" and not row.payload.get("base") and not row.payload.get("conflict_id"):
                    s.delete(row)

    def _remote_key(self, row: RemoteRecord, links: Links) -> Key | None:
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
            self.report.wait({"remote_id": row.remote_id, "type": rtype.key,
                              "reason": f"{self.system} client {rel['related_client_id']} is not linked yet"})
            return None
        if owner == related:
            return None
        return fact_key(owner, related, rtype)

    def _reconcile_one(self, key: Key, local: Connection | None, remote: list[RemoteRecord],
                       based: list[RemoteRecord], links: Links) -> None:
        action = reconcile_action(local=local is not None, remote=bool(remote), based=bool(based))
        if action is Action.AGREE:
            assert local is not None
            self._agree(local, remote, based)
        elif action is Action.DELETE_LOCAL:
            assert local is not None
            self._delete_local(local.id, based)
        elif action is Action.PUSH:
            assert local is not None
            self._push_new(local, self.types.by_key[key[2]], links)
        elif action is Action.DELETE_REMOTE:
            self._delete_remote(key, remote, links)
        elif action is Action.PULL:
            self._pull_new(remote, links)
        else:
            with self.db.session() as s:
                for row in based:
                    self.store.set_base(s, row.id, None)

    def _base_for(self, conn: Connection, row: RemoteRecord) -> dict[str, Any]:
        rtype = self.types.by_key[conn.relationship_type]
        return {"connection_id": conn.id, "key": list(fact_key(conn.client_id, conn.related_client_id, rtype)),
                "hash": row.payload_hash}

    def _audit(self, s: Session, entity_id: str, action: str, before: Any, after: Any) -> None:
        self.store.audit_remote(s, writes=self.adapter.capabilities.writes_relationships,
                                run_id=self.report.run_id, entity="relationship", entity_id=entity_id,
                                action=action, before=before, after=after)

    def _agree(self, local: Connection, remote: list[RemoteRecord], based: list[RemoteRecord]) -> None:
        changed = False
        with self.db.session() as s:
            for row in based:  # a second copy of the fact in the system (e.g. its inverse) that is gone
                if row.remote_status != "active":
                    self.store.set_base(s, row.id, None)
            for row in remote:
                base = self._base_for(local, row)
                if row.payload.get("base") != base:
                    self.store.set_base(s, row.id, base)
                    changed = True
        self.report.add("relationships_agreed" if changed else "relationships_unchanged")

    def _delete_local(self, connection_id: int, based: list[RemoteRecord]) -> None:
        """Deleted in the system since the base: delete here too (both sides, in one transaction with the base)."""
        with self.db.session() as s:
            conn = s.get(Connection, connection_id)
            if conn is not None:
                conn_svc.delete_connection_in(s, conn, actor=ACTOR, origin=self.system, run_id=self.report.run_id)
            for row in based:
                self.store.set_base(s, row.id, None)
        self.report.add("relationships_deleted_local")

    def _push_new(self, conn: Connection, rtype: RelationshipType, links: Links) -> None:
        if not rtype.xpm:
            self.report.add("relationships_local_only")  # friend, employee...: XPM has no such type
            return
        rel = Relationship(id=None, client_id=links.by_local[conn.client_id],
                           related_client_id=links.by_local[conn.related_client_id], type=rtype.key)
        with self.db.session() as s:  # write-ahead: the audit row exists even if the call dies mid-way
            self._audit(s, f"connection:{conn.id}", "create", None, relationship_to_dict(rel))
        created = self.adapter.add_relationship(rel)
        d = relationship_to_dict(created)
        with self.db.session() as s:
            row = self.store.add_row(s, REL, created.id or "", {"relationship": d, "base": None}, content_hash(d))
            s.flush()
            row.payload = {**row.payload, "base": self._base_for(conn, row)}
            marker = self.store.marker(s, rel.client_id)
            if marker is not None and created.id:  # so a later read of the owner notices if it vanishes
                marker.payload = {**marker.payload, "ids": sorted({*marker.payload.get("ids", []), created.id})}
            self.store.patch_snapshot(s, rel.client_id, lambda extra: extra.update(
                relationships=[*extra.get("relationships", []), d]))
        self.report.add("relationships_pushed")

    def _delete_remote(self, key: Key, remote: list[RemoteRecord], links: Links) -> None:
        """Deleted here since the base: delete in the system, unless it changed there meanwhile (then queue)."""
        changed = [r for r in remote if changed_since_base(r.payload.get("base"), r.payload_hash)]
        if changed:
            self._queue_conflict(changed[0], key, links)
            return
        for row in remote:
            with self.db.session() as s:
                self._audit(s, row.remote_id, "delete", row.payload["relationship"], None)
            self.adapter.delete_relationship(row.remote_id)
            with self.db.session() as s:
                fresh = s.get(RemoteRecord, row.id)
                if fresh is not None:
                    s.delete(fresh)
                self.store.patch_snapshot(s, row.payload["relationship"]["client_id"],
                                          lambda extra, gone=row.remote_id: extra.update(relationships=[
                                              r for r in extra.get("relationships", []) if r.get("id") != gone]))
        self.report.add("relationships_deleted_remote")

    def _queue_conflict(self, row: RemoteRecord, key: Key, links: Links) -> None:
        with self.db.session() as s:
            link_id = links.link_ids.get(row.payload["relationship"]["client_id"])
            if link_id is None:
                return
            c = SyncConflict(tenant_id=self.store.tenant_id, link_id=link_id,
                             field=f"{CONFLICT_PREFIX}{row.remote_id}",
                             base_value=json.dumps(row.payload.get("base")), local_value=None,
                             remote_value=json.dumps(row.payload["relationship"]))
            s.add(c)
            s.flush()
            self.store.set_base(s, row.id, row.payload.get("base"), conflict_id=c.id)
            self.report.conflicts.append({"conflict_id": c.id, "remote_id": row.remote_id, "key": list(key),
                                          "reason": "deleted here, changed in " + self.system})
        self.report.add("conflicts_new")

    def _settle_conflicts(self, s: Session, rows: list[RemoteRecord]) -> set[Key]:
        """Apply resolved relationship conflicts; return the keys still waiting for an operator."""
        held: set[Key] = set()
        for row in rows:
            cid = row.payload.get("conflict_id")
            if not cid:
                continue
            c = s.get(SyncConflict, cid)
            key = key_of(row.payload.get("base"))
            if c is not None and c.status == "open":
                if key:
                    held.add(key)
                self.report.add("conflicts_open")
                continue
            take = c.resolution if c is not None else "remote"
            row.payload = {**row.payload, "conflict_id": None,
                           "base": settled_base(take, row.payload.get("base"), row.payload_hash)}
            self.report.add("conflicts_applied")
        return held

    def _pull_new(self, remote: list[RemoteRecord], links: Links) -> None:
        rel = remote[0].payload["relationship"]
        with self.db.session() as s:
            tenant = self.store.tenant(s)
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
                self.store.set_base(s, row.id, self._base_for(conn, row))
        self.report.add("relationships_pulled")
