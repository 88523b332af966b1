"""One run per tenant at a time, across processes, on SQLite and PostgreSQL alike: a lease row in
`run_locks`. The holder heart-beats from a background thread; a holder that dies (SIGKILL, lost machine)
stops heart-beating and its lease can be taken over after the TTL, so a crash never wedges a tenant."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import timedelta
from types import TracebackType

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from syncworker.store.db import Database
from syncworker.store.models import JobRun, RunLock
from syncworker.store.types import utcnow


class TenantBusy(RuntimeError):
    def __init__(self, tenant_id: int, run_id: int | None) -> None:
        held = f" by run {run_id}" if run_id else ""
        super().__init__(f"a run for this tenant is already in progress{held}; wait for it to finish "
                         f"(see `syncworker runs show {run_id}`)" if run_id else
                         "a run for this tenant is already in progress; wait for it to finish")
        self.tenant_id, self.run_id = tenant_id, run_id


class TenantLock:
    def __init__(self, db: Database, tenant_id: int, *, ttl_seconds: int = 300, run_id: int | None = None) -> None:
        self.db, self.tenant_id, self.ttl, self.run_id = db, tenant_id, ttl_seconds, run_id
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        now = utcnow()
        try:
            with self.db.session() as s:
                s.add(RunLock(tenant_id=self.tenant_id, holder=self.holder, run_id=self.run_id, acquired_at=now,
                              heartbeat_at=now))
        except IntegrityError:
            # Held: take it over only if its holder stopped heart-beating.
            cutoff = now - timedelta(seconds=self.ttl)
            with self.db.session() as s:
                taken = s.execute(
                    update(RunLock).where(RunLock.tenant_id == self.tenant_id, RunLock.heartbeat_at < cutoff)
                    .values(holder=self.holder, run_id=self.run_id, acquired_at=now, heartbeat_at=now)
                ).rowcount
                if taken != 1:
                    raise TenantBusy(self.tenant_id, s.scalar(
                        select(RunLock.run_id).where(RunLock.tenant_id == self.tenant_id))) from None
        self._thread = threading.Thread(target=self._beat, name=f"lock-heartbeat-{self.tenant_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        interval = max(1.0, self.ttl / 5)
        while not self._stop.wait(interval):
            self.heartbeat()

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


def current_holder(db: Database, tenant_id: int) -> tuple[bool, int | None]:
    """(held, run id) of the tenant's lock. A lock may be held with no run id (an operator tool, a test)."""
    with db.session() as s:
        row = s.execute(select(RunLock.run_id).where(RunLock.tenant_id == tenant_id)).first()
        return (row is not None, row[0] if row is not None else None)
