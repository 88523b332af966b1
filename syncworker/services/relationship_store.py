"""Persist: the records cache of relationships and groups, and what a relationship sync reports.

Next to a system's client records (`RemoteRecord`, record_type "client") the cache holds:
- "relationship" rows: the system's relationship as last pulled, and in `payload["base"]` the connection
  fact both sides last agreed on (its key, the local connection and the hash of the copy agreed on);
- "group" rows: the system's group as last read, and the base (the local group and the members agreed);
- "relationships" marker rows, one per owner: under which link its relationships were read, the ids they
  had and the digest of the detailed record they came from.
Keeping the base in the same row needs no schema change and never touches the profile engine's
`FieldSyncState` rows. Every method works inside the caller's unit of work (`Database.session()`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.errors import AdapterError, DailyLimitReached, ReadOnly, ReconnectRequired
from syncworker.domain.profile import ClientGroup, Relationship
from syncworker.domain.relationship_sync import group_to_dict
from syncworker.domain.serialize import content_hash, relationship_to_dict
from syncworker.services.pull import MISSING
from syncworker.services.run_frame import RunReport
from syncworker.store.models import AuditEntry, Checkpoint, ClientGroupRow, Link, RemoteRecord, Tenant
from syncworker.store.types import utcnow

ACTOR = "sync"
GROUP_STREAM = "groups.read"
REL, GROUP, FETCHED = "relationship", "group", "relationships"
CONFLICT_PREFIX = "relationship:"


@dataclass
class RelationshipSyncReport(RunReport):  # run_id 0: not recorded as a run of its own
    waiting: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    def wait(self, entry: dict[str, Any]) -> None:
        self.waiting.append(entry)
        self.add("waiting")

    @contextmanager
    def recording(self, **what: Any) -> Iterator[None]:
        """One item's writes: a system that takes none is not a failure, another adapter error is recorded
        against `what` and the run goes on; the daily limit and a lost grant stop the run."""
        try:
            yield
        except (DailyLimitReached, ReconnectRequired):
            raise
        except ReadOnly:
            self.add("kept_local_read_only")
        except AdapterError as exc:
            self.errors.append({**what, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})


@dataclass
class Links:
    by_remote: dict[str, int]  # remote id -> local client id
    by_local: dict[int, str]  # local client id -> remote id
    link_ids: dict[str, int]  # remote id -> link id


def group_ref(group: ClientGroupRow) -> dict[str, Any]:
    # The creation time guards against a reused id (SQLite hands a deleted row's id to the next insert).
    return {"group_id": group.id, "created": group.created_at.isoformat()}


def paired_group(s: Session, base: dict[str, Any] | None) -> ClientGroupRow | None:
    if not base:
        return None
    group = s.get(ClientGroupRow, int(base["group_id"]))
    if group is None or group.created_at.isoformat() != base.get("created"):
        return None
    return group


class RelationshipStore:
    """One tenant's relationship and group cache for one system."""

    def __init__(self, tenant_id: int, system: str) -> None:
        self.tenant_id, self.system = tenant_id, system

    def tenant(self, s: Session) -> Tenant:
        tenant = s.get(Tenant, self.tenant_id)
        assert tenant is not None
        return tenant

    def links(self, s: Session) -> Links:
        rows = s.execute(select(Link.id, Link.client_id, Link.remote_id).where(
            Link.tenant_id == self.tenant_id, Link.system == self.system, Link.status == "linked")).all()
        return Links({r: c for _, c, r in rows}, {c: r for _, c, r in rows}, {r: i for i, _, r in rows})

    def rows(self, s: Session, record_type: str) -> list[RemoteRecord]:
        return list(s.scalars(select(RemoteRecord).where(
            RemoteRecord.tenant_id == self.tenant_id, RemoteRecord.system == self.system,
            RemoteRecord.record_type == record_type).order_by(RemoteRecord.id)))

    def add_row(self, s: Session, record_type: str, remote_id: str, payload: dict[str, Any],
                payload_hash: str) -> RemoteRecord:
        now = utcnow()
        row = RemoteRecord(tenant_id=self.tenant_id, system=self.system, record_type=record_type,
                           remote_id=remote_id, payload=payload, payload_hash=payload_hash, first_seen_at=now,
                           last_seen_at=now, changed_at=now)
        s.add(row)
        return row

    def set_base(self, s: Session, row_id: int, base: dict[str, Any] | None, **extra: Any) -> None:
        row = s.get(RemoteRecord, row_id)
        if row is not None:
            row.payload = {**row.payload, "base": base, **extra}

    def audit_remote(self, s: Session, *, writes: bool, run_id: int | None, entity: str, entity_id: str,
                     action: str, before: Any, after: Any) -> None:
        # Every remote write is audited first: a system that takes none stops it here, before the log says so.
        if not writes:
            raise ReadOnly(f"{self.system} takes no relationship or group writes")
        s.add(AuditEntry(tenant_id=self.tenant_id, actor=ACTOR, origin="local", target=self.system, entity=entity,
                         entity_id=entity_id, action=action, before=before, after=after, run_id=run_id))

    # --- relationships ---
    def marker(self, s: Session, owner: str) -> RemoteRecord | None:
        """Whose relationships were read, under which link, and the ids they had (record_type FETCHED)."""
        return s.scalar(select(RemoteRecord).where(
            RemoteRecord.tenant_id == self.tenant_id, RemoteRecord.system == self.system,
            RemoteRecord.record_type == FETCHED, RemoteRecord.remote_id == owner))

    def store_owner(self, s: Session, owner: str, link_id: int, fetched: list[Relationship], source: str) -> None:
        """The owner's relationships as the system has them now: upsert each, mark the vanished ones deleted."""
        now = utcnow()
        marker = self.marker(s, owner)
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
            d = relationship_to_dict(rel)
            digest = content_hash(d)
            row = rows.get(rel.id)
            if row is None:
                self.add_row(s, REL, rel.id, {"relationship": d, "base": None}, digest)
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
            self.add_row(s, FETCHED, owner, payload, content_hash(payload))
        else:
            marker.payload, marker.payload_hash, marker.last_seen_at = payload, content_hash(payload), now

    def client_extras(self, s: Session) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """The `extra` of every cached client record (detailed records carry relationships and groups), and the
        ids of those the system still has as far as the cache knows (not missing from the last complete
        listing, not deleted)."""
        rows = self.rows(s, "client")
        return ({r.remote_id: (r.payload.get("extra") or {}) for r in rows},
                {r.remote_id for r in rows if r.remote_status not in (MISSING, "deleted")})

    def patch_snapshot(self, s: Session, remote_id: str, change: Callable[[dict[str, Any]], None]) -> None:
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
            marker = self.marker(s, remote_id)
            if marker is not None:
                digest = content_hash({"relationships": extra["relationships"]})
                marker.payload = {**marker.payload, "source": digest}

    # --- groups ---
    def patch_membership(self, s: Session, group_id: str, name: str, add: list[str], remove: list[str]) -> None:
        def added(extra: dict[str, Any]) -> None:
            if group_id not in extra.get("group_ids", []):
                extra["group_ids"] = [*extra.get("group_ids", []), group_id]
                extra["groups"] = [*extra.get("groups", []), {"id": group_id, "name": name}]

        def removed(extra: dict[str, Any]) -> None:
            extra["group_ids"] = [g for g in extra.get("group_ids", []) if g != group_id]
            extra["groups"] = [g for g in extra.get("groups", []) if g.get("id") != group_id]

        for rid in add:
            self.patch_snapshot(s, rid, added)
        for rid in remove:
            self.patch_snapshot(s, rid, removed)

    def paired_ids(self, s: Session) -> set[int]:
        """The local groups a group row's base pairs with."""
        return {g.id for r in self.rows(s, GROUP) if (g := paired_group(s, r.payload.get("base"))) is not None}

    def _group_checkpoint(self, s: Session) -> Checkpoint | None:
        return s.scalar(select(Checkpoint).where(Checkpoint.tenant_id == self.tenant_id,
                                                 Checkpoint.system == self.system, Checkpoint.stream == GROUP_STREAM))

    def groups_read_at(self, s: Session) -> datetime | None:
        cp = self._group_checkpoint(s)
        return datetime.fromisoformat(cp.value["read_at"]) if cp and cp.value.get("read_at") else None

    def mark_groups_read(self, s: Session) -> None:
        cp = self._group_checkpoint(s)
        value = {"read_at": utcnow().isoformat()}
        if cp is None:
            s.add(Checkpoint(tenant_id=self.tenant_id, system=self.system, stream=GROUP_STREAM, value=value))
        else:
            cp.value = value

    def store_groups(self, s: Session, fetched: dict[str, ClientGroup], *, complete: bool) -> None:
        """Groups as the system has them now. `complete`: the group list itself (a group it lacks is deleted);
        else what the detailed records show (a group no client shows keeps its row, with no members)."""
        now = utcnow()
        rows = {r.remote_id: r for r in self.rows(s, GROUP)}
        for gid, g in fetched.items():
            row = rows.get(gid)
            if row is not None and not complete:
                g = ClientGroup(id=gid, name=g.name or row.payload["group"]["name"], member_ids=g.member_ids,
                                taxable=row.payload["group"].get("taxable"))
            d = group_to_dict(g)
            if row is None:
                self.add_row(s, GROUP, gid, {"group": d, "base": None}, content_hash(d))
            elif row.payload_hash != content_hash(d) or row.remote_status != "active":
                row.payload = {**row.payload, "group": d}
                row.payload_hash, row.remote_status, row.changed_at, row.last_seen_at = (
                    content_hash(d), "active", now, now)
        for gid, row in rows.items():
            if gid in fetched or row.remote_status == "deleted":
                continue
            if complete:
                row.remote_status = "deleted"
            elif row.payload["group"]["member_ids"]:  # no detailed record shows it any more: empty
                d = {**row.payload["group"], "member_ids": []}
                row.payload = {**row.payload, "group": d}
                row.payload_hash, row.changed_at = content_hash(d), now
