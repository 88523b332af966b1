"""Orchestrate, groups: the system's groups into the cache, then each group row compared with its local
group against the base (name and members), and local groups the system lacks created there.

With detailed records (the normal case) members come from the clients' `Groups`, and the group list (one
call) is read daily and when the records show a membership change (a group may have been created or
deleted). Without them (the paged-list fall-back), groups are listed with members (1 + one call per group)
daily. The decisions are `domain/relationship_sync.py`; the cache is `services/relationship_store.py`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adapters.base import ClientSystem
from syncworker.domain.connections import ConnectionRefused
from syncworker.domain.profile import ClientGroup
from syncworker.domain.relationship_sync import (
    Rename,
    group_list_stale,
    group_rename,
    group_to_dict,
    groups_from_records,
    member_changes,
    membership_moved,
)
from syncworker.domain.serialize import content_hash
from syncworker.services import groups as group_svc
from syncworker.services.pull import MISSING
from syncworker.services.relationship_store import (
    ACTOR,
    GROUP,
    Links,
    RelationshipStore,
    RelationshipSyncReport,
    group_ref,
    paired_group,
)
from syncworker.store.db import Database
from syncworker.store.models import Client, ClientGroupRow, RemoteRecord
from syncworker.store.types import utcnow


class GroupSync:
    def __init__(self, db: Database, store: RelationshipStore, adapter: ClientSystem,
                 report: RelationshipSyncReport, *, read_groups: bool = True) -> None:
        self.db, self.store, self.adapter, self.report = db, store, adapter, report
        self.system = store.system
        self.read_groups = read_groups

    def run(self, *, full: bool = False) -> None:
        self.read(full=full)
        self.reconcile()

    def read(self, *, full: bool) -> None:
        with self.db.session() as s:
            read_at = self.store.groups_read_at(s)
            clients = [(r.remote_id, r.payload.get("extra") or {}) for r in self.store.rows(s, "client")
                       if r.remote_status not in ("deleted", MISSING)]
        stale = group_list_stale(read_at, utcnow(), full=full)
        if bool(clients) and all(extra.get("detailed") for _, extra in clients):
            derived = groups_from_records(clients)
            with self.db.session() as s:
                stored = {r.remote_id: tuple(r.payload["group"]["member_ids"]) for r in self.store.rows(s, GROUP)
                          if r.remote_status == "active"}
            if stale or membership_moved(derived, stored):  # a group may be new or gone: list them (1 call)
                listed = {g.id: g for g in self.adapter.list_groups(members=False) if g.id}
                fetched = {gid: ClientGroup(id=gid, name=g.name, taxable=g.taxable,
                                            member_ids=derived[gid].member_ids if gid in derived else ())
                           for gid, g in listed.items()}
                self._store(fetched, complete=True)
            else:
                self._store(derived, complete=False)
        elif self.read_groups and stale:
            self._store({g.id: g for g in self.adapter.list_groups() if g.id}, complete=True)

    def _store(self, fetched: dict[str, ClientGroup], *, complete: bool) -> None:
        with self.db.session() as s:
            self.store.store_groups(s, fetched, complete=complete)
        if complete:  # the group list itself was read
            with self.db.session() as s:
                self.store.mark_groups_read(s)
            self.report.add("groups_read")

    def reconcile(self) -> None:
        # The links are read once for the whole pass (group sync neither makes nor breaks a link), not once
        # per group inside its write transaction: at 15,000 clients and 1,500 groups that was 22 million rows
        # read while holding SQLite's write lock, and the lease heartbeat waited past its busy timeout.
        with self.db.read() as s:
            row_ids = [r.id for r in self.store.rows(s, GROUP)]
            paired = self.store.paired_ids(s)
            links = self.store.links(s)
        for row_id in row_ids:
            with self.report.recording(group_record=row_id):
                self._group_row(row_id, paired, links)
        with self.db.session() as s:
            paired = self.store.paired_ids(s)
            new_local = [g.id for g in s.scalars(select(ClientGroupRow).where(
                ClientGroupRow.tenant_id == self.store.tenant_id)) if g.id not in paired]
        for group_id in new_local:
            with self.report.recording(group_id=group_id):
                self._push_group(group_id, links)

    def _audit(self, s: Session, entity_id: str, action: str, before: Any, after: Any) -> None:
        self.store.audit_remote(s, writes=self.adapter.capabilities.writes_relationships, run_id=self.report.run_id,
                                entity="group", entity_id=entity_id, action=action, before=before, after=after)

    def _group_row(self, row_id: int, paired: set[int], links: Links) -> None:
        with self.db.session() as s:
            row = s.get(RemoteRecord, row_id)
            assert row is not None
            base, g = row.payload.get("base"), row.payload["group"]
            local = paired_group(s, base)
            if row.remote_status == "deleted":
                if local is not None:
                    group_svc.delete_group_in(s, local, actor=ACTOR, origin=self.system, run_id=self.report.run_id)
                    self.report.add("groups_deleted_local")
                s.delete(row)
                return
            if base and local is None:  # deleted here since the base: delete in the system
                self._audit(s, row.remote_id, "delete", g, None)
                s.commit()
                self.adapter.delete_group(row.remote_id)
                s.delete(row)
                self.report.add("groups_deleted_remote")
                return
            if local is None:  # new in the system: adopt a local group of the same name, else create one
                local = s.scalar(select(ClientGroupRow).where(
                    ClientGroupRow.tenant_id == self.store.tenant_id,
                    func.lower(ClientGroupRow.name) == g["name"].lower()))
                if local is not None and local.id in paired:
                    local = None
                if local is None:
                    try:
                        local = group_svc.create_group_in(s, self.store.tenant(s), g["name"], [], actor=ACTOR,
                                                          origin=self.system, run_id=self.report.run_id)
                    except ConnectionRefused as exc:
                        self.report.refused.append({"group": row.remote_id, "rule": exc.rule, "reason": str(exc)})
                        return
                    self.report.add("groups_pulled")
                base = {**group_ref(local), "name": g["name"], "members": []}
                paired.add(local.id)
            else:
                self._rename(s, local, g["name"], base["name"])
            self._members(s, row, local, base, links)

    def _rename(self, s: Session, local: ClientGroupRow, remote_name: str, base_name: str) -> None:
        rename = group_rename(remote=remote_name, local=local.name, base=base_name)
        if rename is Rename.PULL:
            try:
                group_svc.rename_group_in(s, local, remote_name, actor=ACTOR, origin=self.system,
                                          run_id=self.report.run_id)
                self.report.add("groups_renamed_local")
            except ConnectionRefused as exc:  # another local group has that name: members still sync
                self.report.refused.append({"group_id": local.id, "rule": exc.rule, "reason": str(exc)})
        elif rename is Rename.PUSH:
            self.report.refused.append({"group_id": local.id, "reason": f"{self.system} has no API to rename "
                                        "a group: rename it there too"})

    def _members(self, s: Session, row: RemoteRecord, local: ClientGroupRow, base: dict[str, Any],
                 links: Links) -> None:
        g = row.payload["group"]
        mine = set(group_svc.member_ids(s, local.id))
        theirs = {links.by_remote[m] for m in g["member_ids"] if m in links.by_remote}
        for m in g["member_ids"]:
            if m not in links.by_remote:
                self.report.wait({"group": local.name, "remote_member": m,
                                  "reason": f"{self.system} client not linked yet"})
        for m in mine - set(links.by_local):
            self.report.wait({"group": local.name, "member_id": m, "reason": "client not linked yet"})
        change = member_changes(mine, theirs, base["members"], set(links.by_local))
        pull_add, pull_remove = change.pull_add, change.pull_remove
        if pull_add or pull_remove:
            clients = {c.id: c for c in s.scalars(select(Client).where(Client.id.in_(pull_add + pull_remove)))}
            group_svc.change_members_in(s, local, [clients[i] for i in pull_add], [clients[i] for i in pull_remove],
                                        actor=ACTOR, origin=self.system, run_id=self.report.run_id, strict=False)
            self.report.add("group_members_pulled", len(pull_add) + len(pull_remove))
        remote_members = set(g["member_ids"])
        if change.push_add or change.push_remove:
            add_ids = [links.by_local[i] for i in change.push_add]
            remove_ids = [links.by_local[i] for i in change.push_remove]
            self._audit(s, row.remote_id, "members", {"member_ids": g["member_ids"]},
                        {"add": add_ids, "remove": remove_ids})
            s.commit()
            self.adapter.set_group_members(row.remote_id, add=add_ids, remove=remove_ids)
            remote_members = (remote_members | set(add_ids)) - set(remove_ids)
            self.store.patch_membership(s, row.remote_id, g["name"], add_ids, remove_ids)
            self.report.add("group_members_pushed", len(add_ids) + len(remove_ids))
        final_local = set(group_svc.member_ids(s, local.id))
        agreed = sorted(final_local & {links.by_remote[m] for m in remote_members if m in links.by_remote})
        d = {**g, "member_ids": sorted(remote_members)}
        row = s.get(RemoteRecord, row.id)  # type: ignore[assignment]
        row.payload = {"group": d, "base": {**group_ref(local), "name": local.name, "members": agreed}}
        row.payload_hash = content_hash(d)

    def _push_group(self, group_id: int, links: Links) -> None:
        with self.db.session() as s:
            local = s.get(ClientGroupRow, group_id)
            if local is None:
                return
            members = group_svc.member_ids(s, local.id)
            remote_ids = [links.by_local[m] for m in members if m in links.by_local]
            if not remote_ids:  # XPM creates a group with a first client: wait for a linked member
                self.report.wait({"group": local.name, "reason": "no member is linked yet (XPM needs one "
                                  "to create a group)"})
                return
            self._audit(s, f"group:{local.id}", "create", None, {"name": local.name, "member_ids": remote_ids})
            name, ref = local.name, group_ref(local)
        created = self.adapter.add_group(ClientGroup(id=None, name=name, member_ids=tuple(remote_ids)))
        d = group_to_dict(created)
        with self.db.session() as s:
            if created.id:
                self.store.patch_membership(s, created.id, name, list(created.member_ids), [])
            agreed = sorted(links.by_remote[m] for m in created.member_ids if m in links.by_remote)
            self.store.add_row(s, GROUP, created.id or "", {"group": d, "base": {**ref, "name": name,
                                                                                 "members": agreed}}, content_hash(d))
        self.report.add("groups_pushed")
