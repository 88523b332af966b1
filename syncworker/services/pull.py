"""The one pull loop and the one checkpoint store, shared by link runs, syncs and relationship syncs.

All of them read the same thing (a tenant's clients in one system) into the same records cache, so they
share one stream and one cursor: whichever run pulls, the others find the cache current and spend no call.

- The first pull (no cursor) or a `full` one is the adapter's full listing; later ones are incremental
  from the stored cursor. The adapter sets the next cursor (`Page.next_cursor`): a time (on the server's
  clock) is passed back as `modified_since`; a string is the adapter's own token (APS: `rv:<n>`), stored and
  passed back unchanged as `resume_from`. When it gives none, the pull's own start time minus `OVERLAP` is used.
- Every page is committed with the stream's state in one transaction, so a run that dies (or is parked by
  the daily limit) resumes from the last stored page; pages are upserted by remote id, so a replayed page
  changes nothing.
- The adapter's checkpoint is opaque here: stored and handed back as `resume_from`, never parsed.

State (`checkpoints` row, stream `clients`): `cursor` (ISO time the next incremental pull starts from) or
`cursor_token` (the adapter's token for it; only when it gave one, so time-cursor states are unchanged),
`resume` (the adapter's checkpoint of a listing in progress), `mode` (full/incremental), `started_at`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from adapters.base import ClientSystem
from syncworker.domain.profile import ClientProfile
from syncworker.services.snapshots import upsert_clients
from syncworker.store.db import Database
from syncworker.store.models import Checkpoint, RemoteRecord
from syncworker.store.types import utcnow

STREAM = "clients"
MISSING = "missing"  # remote_status of a cached record the last complete listing did not have
OVERLAP = timedelta(minutes=5)  # re-read this much before our own start time when the adapter gives no cursor


class Checkpoints:
    """The checkpoint store: one JSON state per (tenant, system, stream), written in the caller's
    transaction so it commits with the data it describes."""

    def __init__(self, db: Database, tenant_id: int, system: str) -> None:
        self.db, self.tenant_id, self.system = db, tenant_id, system

    def _row(self, s: Session, stream: str) -> Checkpoint | None:
        return s.scalar(select(Checkpoint).where(Checkpoint.tenant_id == self.tenant_id,
                                                 Checkpoint.system == self.system, Checkpoint.stream == stream))

    def load(self, stream: str) -> dict[str, Any]:
        with self.db.session() as s:
            row = self._row(s, stream)
            return dict(row.value) if row is not None else {}

    def save(self, s: Session, stream: str, value: dict[str, Any]) -> None:
        row = self._row(s, stream)
        if row is None:
            s.add(Checkpoint(tenant_id=self.tenant_id, system=self.system, stream=stream, value=value))
        else:
            row.value = value


@dataclass
class Pulled:
    seen: dict[str, ClientProfile] = field(default_factory=dict)  # this pull's records by id
    full: bool = False
    resumed: bool = False
    # A completed full listing: every id it held (the only case where absence from a pull means anything).
    listing_ids: set[str] | None = None
    unreadable: set[str] = field(default_factory=set)  # ids of records in the pull the adapter could not read
    started: datetime = field(default_factory=utcnow)
    pages: int = 0


def pull_clients(db: Database, tenant_id: int, system: str, adapter: ClientSystem, *, full: bool = False,
                 dry: bool = False, on_page: Callable[[Pulled], None] | None = None,
                 counts: dict[str, int] | None = None, errors: list[dict[str, Any]] | None = None) -> Pulled:
    """Pull into the records cache. `counts` (a run report's) is kept current page by page, so a pull stopped
    half-way (the daily limit) still reports what it stored: `pages`, `remote_new` / `remote_changed` /
    `remote_unchanged`, `remote_unreadable`, `resumed_from_checkpoint`. A record the adapter could not read
    (`Page.skipped`) goes into `errors` and keeps its cached copy, which a complete listing does not mark
    missing: it is there, just unreadable this time."""
    counts = counts if counts is not None else {}

    def add(key: str, n: int = 1) -> None:
        counts[key] = counts.get(key, 0) + n

    store = Checkpoints(db, tenant_id, system)
    state = store.load(STREAM)
    cursor, token = state.get("cursor"), state.get("cursor_token")
    resuming = bool(state.get("resume")) and not dry and (not full or state.get("mode") == "full")
    # A system that cannot list "modified since" is read whole; the records cache diffs it by hash.
    # An adapter that gave a token can take it back whatever it says it can list.
    incremental = bool(token) or (bool(cursor) and adapter.capabilities.incremental)
    mode = state.get("mode") if resuming else ("full" if full or not incremental else "incremental")
    out = Pulled(full=mode == "full", resumed=resuming,
                 started=datetime.fromisoformat(state["started_at"]) if resuming else utcnow())
    if resuming:
        add("resumed_from_checkpoint")
        pages = adapter.iter_client_pages(resume_from=state["resume"])
    elif mode == "full":
        pages = adapter.iter_client_pages()
    elif token:
        pages = adapter.iter_client_pages(resume_from=token)
    else:
        pages = adapter.iter_client_pages(modified_since=datetime.fromisoformat(cursor))
    carried = {"cursor": cursor, **({"cursor_token": token} if token else {})}
    next_cursor: datetime | str | None = None
    for page in pages:
        for p in page.items:
            out.seen[p.id] = p
        next_cursor = page.next_cursor or next_cursor
        if page.skipped:
            add("remote_unreadable", len(page.skipped))
            out.unreadable.update(r["remote_id"] for r in page.skipped if r.get("remote_id"))
            if errors is not None:
                errors.extend({"remote_id": r.get("remote_id"), "error": f"unreadable record: {r.get('error')}"}
                              for r in page.skipped)
        if not dry:
            with db.session() as s:  # the page and its state commit together
                for k, v in upsert_clients(s, tenant_id, system, page.items).items():
                    add(f"remote_{k}", v)
                unreadable = [r["remote_id"] for r in page.skipped if r.get("remote_id")]
                if unreadable:
                    s.execute(update(RemoteRecord).where(
                        RemoteRecord.tenant_id == tenant_id, RemoteRecord.system == system,
                        RemoteRecord.record_type == "client", RemoteRecord.remote_id.in_(unreadable))
                        .values(last_seen_at=utcnow()))
                store.save(s, STREAM, {**carried, "mode": mode, "resume": page.checkpoint,
                                       "started_at": out.started.isoformat()})
        out.pages += 1
        add("pages")
        if on_page:
            on_page(out)
    if not dry:
        with db.session() as s:
            after = ({"cursor": None, "cursor_token": next_cursor} if isinstance(next_cursor, str)
                     else {"cursor": (next_cursor or out.started - OVERLAP).isoformat()})
            store.save(s, STREAM, {**after, "mode": None, "resume": None})
    if out.full and not dry:
        with db.session() as s:  # not in a complete listing: gone there (or, for some systems, archived)
            s.execute(update(RemoteRecord).where(
                RemoteRecord.tenant_id == tenant_id, RemoteRecord.system == system,
                RemoteRecord.record_type == "client", RemoteRecord.last_seen_at < out.started)
                .values(remote_status=MISSING))
    if out.full:
        out.listing_ids = set(out.seen) | out.unreadable
        if resuming:  # pages stored by the interrupted run belong to this listing too
            with db.session() as s:
                out.listing_ids |= set(s.scalars(select(RemoteRecord.remote_id).where(
                    RemoteRecord.tenant_id == tenant_id, RemoteRecord.system == system,
                    RemoteRecord.record_type == "client", RemoteRecord.last_seen_at >= out.started)))
    return out
