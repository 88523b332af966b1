"""One run per tenant at a time, across processes, on SQLite and PostgreSQL alike: a lease row in
`run_locks`. The holder heart-beats from a background thread; a holder that dies loses its lease at once
when it ran on this host (its process is gone), otherwise when its heartbeat is older than the TTL. Dead
leases are reaped by whoever next looks (a run starting, a job submitted, `tenants unblock`) and by the
periodic reapers of `syncworker run` and the scale-out workers, and their runs are closed, so a crash never
wedges a tenant."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from syncworker.services.runs import ABANDONED, HOST, process_gone
from syncworker.store.db import Database
from syncworker.store.models import JobRun, RunLock
from syncworker.store.types import utcnow

log = logging.getLogger(__name__)


class TenantBusy(RuntimeError):
    def __init__(self, tenant_id: int, run_id: int | None) -> None:
        held = f" by run {run_id}" if run_id else ""
        super().__init__(f"a run for this tenant is already in progress{held}; wait for it to finish "
                         f"(see `syncworker runs show {run_id}`)" if run_id else
                         "a run for this tenant is already in progress; wait for it to finish")
        self.tenant_id, self.run_id = tenant_id, run_id


def holder_name() -> str:
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    """True when the holder ran on this host and its process is gone. A holder on another host is judged
    by its heartbeat only."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    return pid_text.isdigit() and process_gone(host, int(pid_text))


@dataclass(frozen=True)
class Reaped:
    tenant_id: int
    holder: str
    run_id: int | None
    why: str  # "process gone" or "heartbeat stale"


def reap_dead_leases(db: Database, ttl_seconds: int, *, tenant_id: int | None = None) -> list[Reaped]:
    """Release the leases of holders that died, and close their runs as failed (abandoned)."""
    cutoff = utcnow() - timedelta(seconds=ttl_seconds)
    query = select(RunLock.tenant_id, RunLock.holder, RunLock.run_id, RunLock.heartbeat_at)
    if tenant_id is not None:
        query = query.where(RunLock.tenant_id == tenant_id)
    with db.read() as s:
        rows = s.execute(query).all()
    dead = [Reaped(t, h, r, "process gone" if holder_is_dead(h) else "heartbeat stale")
            for t, h, r, beat in rows if beat < cutoff or holder_is_dead(h)]
    if not dead:
        return []
    with db.session() as s:
        for d in dead:
            s.execute(delete(RunLock).where(RunLock.tenant_id == d.tenant_id, RunLock.holder == d.holder))
            if d.run_id is not None:
                s.execute(update(JobRun).where(JobRun.id == d.run_id, JobRun.status == "running").values(
                    status="failed", finished_at=utcnow(), message=ABANDONED))
    for d in dead:
        log.warning("released the tenant lease of a dead run (%s)", d.why,
                    extra={"tenant_id": d.tenant_id, "run_id": d.run_id})
    return dead


INTERRUPTED = "interrupted: the process stopped before this job finished; the next run resumes from its checkpoint"


def release_process_leases(db: Database) -> list[int]:
    """On a stop that leaves jobs unfinished: release every lease this process holds and close their runs
    as interrupted, so the tenants are free at once. Returns the run ids closed."""
    mine = RunLock.holder.like(f"{HOST}:{os.getpid()}:%")
    with db.session() as s:
        run_ids = [r for r in s.scalars(select(RunLock.run_id).where(mine)) if r is not None]
        s.execute(delete(RunLock).where(mine))
        if run_ids:
            s.execute(update(JobRun).where(JobRun.id.in_(run_ids), JobRun.status == "running").values(
                status="failed", finished_at=utcnow(), message=INTERRUPTED))
    return run_ids


class TenantLock:
    def __init__(self, db: Database, tenant_id: int, *, ttl_seconds: int = 300, run_id: int | None = None) -> None:
        self.db, self.tenant_id, self.ttl, self.run_id = db, tenant_id, ttl_seconds, run_id
        self.holder = holder_name()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _insert(self) -> bool:
        now = utcnow()
        try:
            with self.db.session() as s:
                s.add(RunLock(tenant_id=self.tenant_id, holder=self.holder, run_id=self.run_id, acquired_at=now,
                              heartbeat_at=now))
            return True
        except IntegrityError:
            return False

    def acquire(self) -> None:
        # Held: take it over only if its holder died (process gone, or stopped heart-beating).
        if not self._insert() and not (reap_dead_leases(self.db, self.ttl, tenant_id=self.tenant_id)
                                       and self._insert()):
            with self.db.read() as s:
                raise TenantBusy(self.tenant_id, s.scalar(
                    select(RunLock.run_id).where(RunLock.tenant_id == self.tenant_id))) from None
        self._thread = threading.Thread(target=self._beat, name=f"lock-heartbeat-{self.tenant_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        interval = max(1.0, self.ttl / 5)
        while not self._stop.wait(interval):
            try:
                self.heartbeat()
            except Exception as exc:  # noqa: BLE001 - a missed beat must never end the run; the next one may pass
                log.warning("lease heartbeat failed; trying again in %.0f s", interval,
                            extra={"tenant_id": self.tenant_id, "error_class": type(exc).__name__})

    def heartbeat(self) -> None:
        now = utcnow()
        with self.db.session() as s:
            s.execute(update(RunLock).where(RunLock.tenant_id == self.tenant_id, RunLock.holder == self.holder)
                      .values(heartbeat_at=now))
            if self.run_id is not None:
                s.execute(update(JobRun).where(JobRun.id == self.run_id).values(heartbeat_at=now))

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self.db.session() as s:
            s.execute(delete(RunLock).where(RunLock.tenant_id == self.tenant_id, RunLock.holder == self.holder))

    def __enter__(self) -> TenantLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def live_holder(db: Database, tenant_id: int, ttl_seconds: int) -> tuple[bool, int | None]:
    """`current_holder` after releasing a dead holder's lease: what a caller deciding "busy" should ask."""
    reap_dead_leases(db, ttl_seconds, tenant_id=tenant_id)
    return current_holder(db, tenant_id)


def current_holder(db: Database, tenant_id: int) -> tuple[bool, int | None]:
    """(held, run id) of the tenant's lock. A lock may be held with no run id (an operator tool, a test)."""
    with db.read() as s:
        row = s.execute(select(RunLock.run_id).where(RunLock.tenant_id == tenant_id)).first()
        return (row is not None, row[0] if row is not None else None)


def unblock_tenant(db: Database, tenant_name: str, ttl_seconds: int, *, force: bool = False,
                   actor: str = "operator") -> dict[str, object]:
    """An operator's way out for a tenant refused as busy: release a dead holder's lease (and close its
    run); with `force`, also a holder that still looks alive (its run is closed as failed: use it only when
    that process is known to be gone, e.g. on a lost machine before the TTL runs out)."""
    from syncworker.services.tenants import get_tenant

    with db.read() as s:
        tenant_id = get_tenant(s, tenant_name).id
    released = [r.run_id for r in reap_dead_leases(db, ttl_seconds, tenant_id=tenant_id)]
    held, holder_run = current_holder(db, tenant_id)
    if held and force:
        with db.session() as s:
            s.execute(delete(RunLock).where(RunLock.tenant_id == tenant_id))
            if holder_run is not None:
                s.execute(update(JobRun).where(JobRun.id == holder_run, JobRun.status == "running").values(
                    status="failed", finished_at=utcnow(), message=f"released by {actor} (tenants unblock --force)"))
        released.append(holder_run)
        held = False
    log.info("tenant unblock: %d lease(s) released", len(released), extra={"tenant_id": tenant_id})
    return {"tenant": tenant_name, "released_runs": [r for r in released if r is not None],
            "released": len(released), "still_busy_with_run": holder_run if held else None}
