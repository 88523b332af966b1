"""Every run records itself: `running` when it starts, then `succeeded`, `partial` or `failed`, with
counts and errors. A run whose worker died is found by its stale heartbeat and closed as failed, so no
run stays "running" forever."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from syncworker.store.db import Database
from syncworker.store.models import JobRun
from syncworker.store.types import utcnow

MAX_STORED_ERRORS = 500  # the rest are counted, not stored
ABANDONED = "abandoned: the worker stopped before finishing; the next run resumes from its checkpoint"


class RunRecorder:
    def __init__(self, db: Database) -> None:
        self.db = db

    def start(
        self, kind: str, *, tenant_id: int | None, trigger: str = "cli", system: str | None = None,
        params: dict[str, Any] | None = None, dry_run: bool = False,
    ) -> int:
        with self.db.session() as s:
            run = JobRun(kind=kind, tenant_id=tenant_id, trigger=trigger, system=system, params=params or {},
                         dry_run=dry_run, status="running")
            s.add(run)
            s.flush()
            return run.id

    def progress(self, run_id: int, **progress: Any) -> None:
        with self.db.session() as s:
            s.execute(update(JobRun).where(JobRun.id == run_id).values(progress=progress, heartbeat_at=utcnow()))

    def finish(
        self, run_id: int, status: str, *, counts: dict[str, Any] | None = None,
        errors: list[dict[str, Any]] | None = None, message: str | None = None,
    ) -> None:
        errors = errors or []
        stored = errors[:MAX_STORED_ERRORS]
        if len(errors) > len(stored):
            stored.append({"error": f"{len(errors) - len(stored)} more errors not stored"})
        with self.db.session() as s:
            s.execute(
                update(JobRun).where(JobRun.id == run_id).values(
                    status=status, counts=counts or {}, errors=stored, message=message, finished_at=utcnow(),
                    heartbeat_at=utcnow(),
                )
            )

    def finish_if_running(self, run_id: int, status: str, *, message: str) -> bool:
        """Close a run that has not finished (a run that finished keeps its outcome). True if closed."""
        with self.db.session() as s:
            return bool(s.execute(update(JobRun).where(JobRun.id == run_id, JobRun.status == "running").values(
                status=status, message=message, finished_at=utcnow(), heartbeat_at=utcnow())).rowcount)

    def reap_abandoned(self, ttl_seconds: int) -> list[int]:
        """Close runs whose worker stopped heart-beating (crashed, killed) as failed."""
        cutoff = utcnow() - timedelta(seconds=ttl_seconds)
        with self.db.session() as s:
            ids = list(s.scalars(select(JobRun.id).where(JobRun.status == "running", JobRun.heartbeat_at < cutoff)))
            if ids:
                s.execute(update(JobRun).where(JobRun.id.in_(ids)).values(
                    status="failed", finished_at=utcnow(),
                    message=ABANDONED,
                ))
        return ids
