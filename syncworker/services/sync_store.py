"""Persist: what a profile sync reads and writes locally, inside the caller's unit of work.

The pairs and their change capture, the merge bases (`FieldSyncState`: one row per link and field, plus the
`@record` row holding the hash of the remote record as last merged), local writes of pulled values, the
conflict queue, the audit rows of remote writes and the webhook events a pull covers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session, aliased

from syncworker.domain.pair_sync import PairPlan, merge_required
from syncworker.domain.profile import ClientStatus
from syncworker.domain.sync import encode, normalise, value_hash
from syncworker.store.crypto import is_identifier_key
from syncworker.store.mapping import json_ready
from syncworker.store.models import (
    AuditEntry,
    Client,
    FieldSyncState,
    Link,
    RemoteRecord,
    SyncConflict,
    WebhookEvent,
)
from syncworker.store.types import sealer_for, utcnow

ACTOR = "sync"
RECORD_MARK = "@record"  # FieldSyncState row holding the hash of the remote record as last merged


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


class SyncStore:
    """One tenant's profile-sync state for one system."""

    def __init__(self, tenant_id: int, system: str, *, country: str) -> None:
        self.tenant_id, self.system, self.country = tenant_id, system, country

    def linked_pairs(self, s: Session) -> list[tuple[int, str, bool]]:
        """(link id, remote id, merge required) for every linked pair, in one query."""
        mark = aliased(FieldSyncState)
        q = (select(Link.id, Link.remote_id, mark.base_hash, RemoteRecord.payload_hash, Link.last_pushed_version,
                    Client.version).join(Client, Client.id == Link.client_id)
             .outerjoin(RemoteRecord, and_(RemoteRecord.tenant_id == Link.tenant_id,
                                           RemoteRecord.system == Link.system, RemoteRecord.record_type == "client",
                                           RemoteRecord.remote_id == Link.remote_id))
             .outerjoin(mark, and_(mark.link_id == Link.id, mark.field == RECORD_MARK))
             .where(Link.tenant_id == self.tenant_id, Link.system == self.system, Link.status == "linked")
             .order_by(Link.id))
        return [(lid, rid, merge_required(merged_hash=merged, remote_hash=remote, last_pushed_version=pushed,
                                          version=version))
                for lid, rid, merged, remote, pushed, version in s.execute(q).all()]

    def remote_payload(self, s: Session, remote_id: str) -> dict[str, Any] | None:
        return s.scalar(select(RemoteRecord.payload).where(
            RemoteRecord.tenant_id == self.tenant_id, RemoteRecord.system == self.system,
            RemoteRecord.record_type == "client", RemoteRecord.remote_id == remote_id))

    @staticmethod
    def states(s: Session, link_id: int) -> dict[str, FieldSyncState]:
        return {st.field: st for st in s.scalars(select(FieldSyncState).where(FieldSyncState.link_id == link_id))}

    def open_conflicts(self, s: Session) -> int:
        return s.scalar(
            select(func.count()).select_from(SyncConflict).join(Link, Link.id == SyncConflict.link_id)
            .where(SyncConflict.tenant_id == self.tenant_id, Link.system == self.system,
                   SyncConflict.status == "open")) or 0

    # --- events ---
    def events_covered(self, s: Session, started: datetime, run_id: int | None) -> int:
        """Webhook events received before a pull began are covered by it (their pull job may have been
        refused while this tenant was busy): mark them processed."""
        return s.execute(update(WebhookEvent).where(
            WebhookEvent.tenant_id == self.tenant_id, WebhookEvent.system == self.system,
            WebhookEvent.processed_at.is_(None), WebhookEvent.received_at <= started)
            .values(processed_at=utcnow(), run_id=run_id)).rowcount

    def unprocessed_events(self, s: Session, event_ids: list[int]) -> list[tuple[int, str, str]]:
        return [(i, r, c) for i, r, c in s.execute(
            select(WebhookEvent.id, WebhookEvent.resource_id, WebhookEvent.category).where(
                WebhookEvent.tenant_id == self.tenant_id, WebhookEvent.system == self.system,
                WebhookEvent.id.in_(event_ids), WebhookEvent.processed_at.is_(None))).all()]

    @staticmethod
    def mark_processed(s: Session, event_ids: list[int], run_id: int | None) -> None:
        s.execute(update(WebhookEvent).where(WebhookEvent.id.in_(event_ids))
                  .values(processed_at=utcnow(), run_id=run_id))

    def linked_ids(self, s: Session, remote_ids: list[str]) -> dict[str, int]:
        return dict(s.execute(select(Link.remote_id, Link.id).where(
            Link.tenant_id == self.tenant_id, Link.system == self.system, Link.remote_id.in_(remote_ids),
            Link.status == "linked")).all())

    # --- writes of one pair ---
    def audit_update(self, s: Session, plan: PairPlan, action: str, before: Any, after: Any,
                     run_id: int | None) -> None:
        s.add(AuditEntry(tenant_id=self.tenant_id, actor=ACTOR, origin="local", target=self.system,
                         entity="client", entity_id=plan.remote_id, action=action, before=before, after=after,
                         run_id=run_id))

    def write_local(self, s: Session, client: Client, pulls: dict[str, Any], plan: PairPlan,
                    run_id: int | None) -> None:
        for f, value in pulls.items():
            setattr(client, local_column(f), column_value(f, value))
        s.add(AuditEntry(tenant_id=self.tenant_id, actor=ACTOR, origin=self.system, target="local", entity="client",
                         entity_id=client.external_id, action="update",
                         before=json_ready({f: plan.local_before.get(f) for f in pulls}),
                         after=json_ready(dict(pulls)), run_id=run_id))

    def move_bases(self, s: Session, plan: PairPlan, states: dict[str, FieldSyncState]) -> None:
        for f, value, source in plan.base_moves():
            set_state(s, states, plan.link_id, f, encode(value), field_digest(s, f, value, country=self.country),
                      source)

    def queue_conflicts(self, s: Session, plan: PairPlan, base_rows: dict[str, FieldSyncState],
                        run_id: int | None) -> int:
        """Open a conflict per conflicting field (one row per field, kept with the latest values); close the
        open ones the sides settled themselves. Returns how many were opened."""
        opened = 0
        open_rows = {c.field: c for c in s.scalars(select(SyncConflict).where(
            SyncConflict.link_id == plan.link_id, SyncConflict.status == "open"))}
        for d in plan.conflicts:
            local, remote = encode(plan.local_before.get(d.field)), encode(plan.remote_before.get(d.field))
            base = base_rows[d.field].base_value if d.field in base_rows else None
            row = open_rows.pop(d.field, None)
            if row is None:
                s.add(SyncConflict(tenant_id=self.tenant_id, link_id=plan.link_id, field=d.field, base_value=base,
                                   run_id=run_id, reason=d.reason[:200], local_value=local, remote_value=remote))
                opened += 1
            else:  # still in conflict: keep one row, with the latest values
                row.local_value, row.remote_value, row.base_value, row.reason = local, remote, base, d.reason[:200]
        settled = plan.settled()
        for f, row in open_rows.items():
            if f in settled:  # the sides settled it themselves (or a rule now does)
                row.status, row.resolution, row.resolved_by, row.resolved_at = "resolved", "converged", ACTOR, utcnow()
        return opened


def field_digest(s: Session, f: str, value: Any, *, country: str = "AU") -> str:
    """A merge base's hash: SHA-256 of the value's comparable form, but for a private identifier (a tax
    file number) its keyed hash, since a plain hash of nine digits gives them away to anyone who tries them
    all. A masked value (`******123`) hides nothing more and keeps the plain hash."""
    norm = normalise(f, value, country=country) if is_identifier_key(f) else None
    if norm is not None and "*" not in norm:
        return sealer_for(s.get_bind().dialect, "stored").index(norm) or value_hash(f, value, country=country)
    return value_hash(f, value, country=country)


def set_state(s: Session, states: dict[str, FieldSyncState], link_id: int, f: str, value: str | None, digest: str,
              source: str) -> None:
    row = states.get(f)
    if row is None:
        states[f] = FieldSyncState(link_id=link_id, field=f, base_value=value, base_hash=digest, source=source,
                                   synced_at=utcnow())
        s.add(states[f])
    elif row.base_hash != digest or row.base_value != value:
        row.base_value, row.base_hash, row.source, row.synced_at = value, digest, source, utcnow()
