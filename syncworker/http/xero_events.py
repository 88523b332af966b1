"""Xero webhook intake, without HTTP: check the signature, read the payload, store the events once and
queue one targeted pull per tenant.

Only CONTACT events are pulled: the others (INVOICE, CREDITNOTE, SUBSCRIPTION, ...) are stored already
processed, so they are on record but never cost a call (a GET /Contacts of an invoice's id is a 404).
Events for Xero tenants not connected here are counted as ignored and stored nowhere (there is no tenant
to store them under).

Events are stored with INSERT ... ON CONFLICT DO NOTHING on (tenant, category, resource, event time), so a
delivery repeated any number of times, even concurrently, stores each event once and only the first copy
queues a pull. A tenant that is busy keeps its events unprocessed (processed_at NULL) for its next pull.
A delivery's events go in as one multi-row statement (SQLAlchemy's insertmanyvalues), not one round trip
each: Xero gives up after 5 seconds, and 200 single-row INSERTs took 3.5 s on a loaded PostgreSQL where the
batch takes 0.2 s. The rows go in key order, so two concurrent deliveries take their row locks in the same
order and cannot deadlock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from syncworker.jobs.base import Executor, JobKind, JobRejected, JobRequest
from syncworker.services.context import ServiceContext
from syncworker.services.sync_run import PULLED_CATEGORIES
from syncworker.store.models import Tenant, TenantSystem, WebhookEvent
from syncworker.store.types import utcnow

log = logging.getLogger("syncworker.http.webhooks")
SYSTEM = "xero"
MIN_EVENT_YEAR, MAX_EVENT_YEAR = 2000, 2200  # Xero's events are of now; anything else is not an event


class MalformedPayload(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class XeroEvent:
    tenant_id: str  # Xero's tenantId
    category: str
    event_type: str
    resource_id: str
    event_date: datetime


@dataclass
class Intake:
    recorded: int = 0
    duplicates: int = 0
    not_pulled: int = 0  # recorded, but of a category no pull reads (stored as processed)
    ignored_unknown: int = 0  # events of Xero tenants not connected here
    unknown_tenants: list[str] = field(default_factory=list)
    runs: dict[str, int] = field(default_factory=dict)  # tenant name -> queued pull's run id
    busy: list[str] = field(default_factory=list)  # tenants whose events wait for their next pull


def signature_valid(body: bytes, signature: str | None, key: str) -> bool:
    if not signature:
        return False
    expected = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))


def _text(event: dict[str, Any], key: str, max_len: int) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise MalformedPayload(f"event field {key!r} must be a non-empty string of at most {max_len} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise MalformedPayload(f"event field {key!r} contains a control character")
    return value.strip()


def _when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise MalformedPayload("event field 'eventDateUtc' is not an ISO 8601 date-time") from None
    if not MIN_EVENT_YEAR <= parsed.year <= MAX_EVENT_YEAR:
        raise MalformedPayload(f"event field 'eventDateUtc' is outside {MIN_EVENT_YEAR}-{MAX_EVENT_YEAR}")
    return parsed


def parse(body: bytes) -> list[XeroEvent]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedPayload("the body is not valid JSON") from None
    except RecursionError:
        raise MalformedPayload("the body is nested too deeply") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise MalformedPayload("the payload must be an object with an 'events' list")
    events = []
    for raw in payload["events"]:
        if not isinstance(raw, dict):
            raise MalformedPayload("each event must be an object")
        events.append(XeroEvent(
            tenant_id=_text(raw, "tenantId", 100), category=_text(raw, "eventCategory", 30).upper(),
            event_type=_text(raw, "eventType", 20).upper(), resource_id=_text(raw, "resourceId", 100),
            event_date=_when(_text(raw, "eventDateUtc", 40)),
        ))
    return events


def _insert_once(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(WebhookEvent).on_conflict_do_nothing().returning(
        WebhookEvent.id, WebhookEvent.tenant_id, WebhookEvent.category)


def record_and_queue(ctx: ServiceContext, executor: Executor, events: list[XeroEvent]) -> Intake:
    intake = Intake()
    if not events:
        return intake
    tenants: dict[str, list[tuple[int, str]]] = {}
    with ctx.db.read() as s:
        for remote, tid, name in s.execute(
                select(TenantSystem.remote_tenant_id, Tenant.id, Tenant.name).join(Tenant)
                .where(TenantSystem.system == SYSTEM,
                       TenantSystem.remote_tenant_id.in_({e.tenant_id for e in events}))):
            tenants.setdefault(remote, []).append((tid, name))
    names = {tid: name for ours in tenants.values() for tid, name in ours}
    received = utcnow()
    rows: list[dict[str, Any]] = []
    for e in events:
        ours = tenants.get(e.tenant_id)
        if not ours:
            intake.ignored_unknown += 1
            if e.tenant_id not in intake.unknown_tenants:
                intake.unknown_tenants.append(e.tenant_id)
            continue
        pulled = e.category in PULLED_CATEGORIES
        rows.extend({"tenant_id": tid, "system": SYSTEM, "category": e.category, "event_type": e.event_type,
                     "resource_id": e.resource_id, "event_date": e.event_date,
                     "processed_at": None if pulled else received} for tid, _ in ours)
    if not rows:
        return intake
    rows.sort(key=lambda r: (r["tenant_id"], r["category"], r["resource_id"], r["event_date"]))
    # A transaction of its own that starts by writing: on SQLite it then waits for the write lock rather
    # than failing to upgrade a read snapshot when deliveries arrive concurrently.
    with ctx.db.session() as s:
        inserted = sorted(s.execute(_insert_once(ctx.db.dialect), rows).all())  # the new rows only, by id
    intake.recorded, intake.duplicates = len(inserted), len(rows) - len(inserted)
    new_ids: dict[str, list[int]] = {}
    for row_id, tid, category in inserted:
        if category in PULLED_CATEGORIES:
            new_ids.setdefault(names[tid], []).append(row_id)
        else:
            intake.not_pulled += 1
    for name, ids in new_ids.items():
        _queue_pull(ctx, executor, name, ids, intake)
    return intake


def _queue_pull(ctx: ServiceContext, executor: Executor, tenant: str, event_ids: list[int], intake: Intake) -> None:
    try:
        run_id = executor.submit(JobRequest(kind=JobKind.WEBHOOK_PULL, tenant=tenant, trigger="webhook",
                                            params={"system": SYSTEM, "event_ids": event_ids}))
    except JobRejected as exc:
        # Never fail the delivery for this: the events stay unprocessed and the next pull takes them.
        intake.busy.append(tenant)
        log.info("webhook events kept for the next pull: %s", "tenant busy" if exc.busy_run_id else "refused",
                 extra={"events_count": len(event_ids), "busy_run_id": exc.busy_run_id})
        return
    intake.runs[tenant] = run_id
    with ctx.db.session() as s:
        s.execute(update(WebhookEvent).where(WebhookEvent.id.in_(event_ids), WebhookEvent.run_id.is_(None))
                  .values(run_id=run_id))
