"""Every run records itself: `running` when it starts (`queued` first when it waits in the scale-out queue),
then `succeeded`, `partial` or `failed`, with counts and errors; `skipped` when it never ran because the same
job already waits. A run whose worker died is found by its stale heartbeat and closed as failed, so no run
stays "running" (or "queued") forever.

While a run works, `RunRecorder.step` keeps its `progress` current (the phase and how far through it), which
the console's runs page shows: every phase of it, throttled so a run over 15,000 clients writes its row a few
dozen times, not once per client."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from syncworker.store.crypto import mask_tax_numbers
from syncworker.store.db import Database
from syncworker.store.models import JobRun
from syncworker.store.types import utcnow

log = logging.getLogger(__name__)

MAX_STORED_ERRORS = 500  # the rest are counted, not stored
ABANDONED = "abandoned: the worker stopped before finishing; the next run resumes from its checkpoint"
LIVE = ("queued", "running")  # a run not finished yet
STEP_EVERY = 1.0  # seconds: within one phase, a run's progress is written at most this often


HOST = socket.gethostname()


def process_gone(host: str, pid: int) -> bool:
    """True when `pid` ran on this host and is gone (or a zombie: killed, not yet waited for)."""
    if host != HOST or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def _where() -> dict[str, Any]:
    """Recorded with a run's progress: which process works on it, so a run whose process died is closed
    at once on this host instead of after the heartbeat TTL."""
    return {"host": HOST, "pid": os.getpid()}


def scrub(value: Any) -> Any:
    """NUL characters removed from every string (PostgreSQL refuses them in text and JSON), so recording a
    failure can never fail because of what the failure quoted."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    return value


class RunRecorder:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.monotonic,
                 step_every: float = STEP_EVERY) -> None:
        self.db, self.clock, self.step_every = db, clock, step_every
        self._stepped: dict[int, tuple[dict[str, Any], float]] = {}  # run id -> its last step written, when

    def start(
        self, kind: str, *, tenant_id: int | None, trigger: str = "cli", system: str | None = None,
        params: dict[str, Any] | None = None, dry_run: bool = False, status: str = "running",
    ) -> int:
        with self.db.session() as s:
            run = JobRun(kind=kind, tenant_id=tenant_id, trigger=trigger, system=system, params=params or {},
                         dry_run=dry_run, status=status,
                         progress=_where() | ({"phase": "queued"} if status == "queued" else {}))
            s.add(run)
            s.flush()
            return run.id

    def progress(self, run_id: int, **progress: Any) -> None:
        with self.db.session() as s:
            s.execute(update(JobRun).where(JobRun.id == run_id).values(progress=progress | _where(),
                                                                       heartbeat_at=utcnow()))

    def step(self, run_id: int, phase: str, done: int | None = None, total: int | None = None,
             **detail: Any) -> bool:
        """Where a running run is: `phase`, how far through it (`done` of `total`) and what else it counts
        (`pages`, `records`), written through `progress`. Throttled: a new phase and a phase's last step
        (`done` reaching `total`) are written at once; more of the same phase at most every `step_every`
        seconds; a step that says nothing new, never. A phase with nothing to count (`total` 0) is written
        without numbers. True when it was written."""
        now = self.clock()
        counted = {"done": done, "total": total} if total != 0 else {}
        state = {"phase": phase} | {k: v for k, v in (counted | detail).items() if v is not None}
        last = self._stepped.get(run_id)
        if last is not None:
            written, at = last
            ends = total and done is not None and done >= total
            if written == state or (written["phase"] == phase and not ends and now - at < self.step_every):
                return False
        self._stepped[run_id] = (state, now)
        self.progress(run_id, **state)
        log.debug("run %d at %s", run_id, " ".join(f"{k}={v}" for k, v in state.items()),
                  extra={"run_id": run_id})
        return True

    def finish(
        self, run_id: int, status: str, *, counts: dict[str, Any] | None = None,
        errors: list[dict[str, Any]] | None = None, message: str | None = None,
    ) -> None:
        # An error's text and the message are free text: a remote system's error may quote the value it
        # refused, so numbers shaped like a tax file number are masked (ids stay in their own keys).
        errors = [{k: mask_tax_numbers(v) if k == "error" and isinstance(v, str) else v for k, v in e.items()}
                  if isinstance(e, dict) else e for e in scrub(errors or [])]
        message = mask_tax_numbers(scrub(message)) if message else message
        self._stepped.pop(run_id, None)
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

    def claim(self, run_id: int) -> bool:
        """A worker picks up a queued run: `queued` -> `running` (compare-and-swap, so two deliveries of one
        job cannot both claim it). True if the run is this caller's to do (it was queued or is running)."""
        with self.db.session() as s:
            progress = s.scalar(select(JobRun.progress).where(JobRun.id == run_id)) or {}
            s.execute(update(JobRun).where(JobRun.id == run_id, JobRun.status == "queued").values(
                status="running", heartbeat_at=utcnow(), progress=progress | _where() | {"phase": "started"}))
            return s.scalar(select(JobRun.status).where(JobRun.id == run_id)) == "running"

    def finish_if_running(self, run_id: int, status: str, *, message: str) -> bool:
        """Close a run that has not finished (a run that finished keeps its outcome). True if closed."""
        with self.db.session() as s:
            return bool(s.execute(update(JobRun).where(JobRun.id == run_id, JobRun.status.in_(LIVE)).values(
                status=status, message=message, finished_at=utcnow(), heartbeat_at=utcnow())).rowcount)

    def reap_abandoned(self, ttl_seconds: int) -> list[int]:
        """Close runs whose worker stopped heart-beating (crashed, killed) as failed, and at once those
        whose process on this host is gone (unless merely waiting in a queue, which another process runs)."""
        cutoff = utcnow() - timedelta(seconds=ttl_seconds)
        with self.db.read() as s:
            running = s.execute(select(JobRun.id, JobRun.heartbeat_at, JobRun.status, JobRun.progress)
                                .where(JobRun.status.in_(LIVE))).all()
        ids = [rid for rid, beat, status, progress in running
               if beat < cutoff or (status == "running" and _dead(progress or {}))]
        if ids:
            with self.db.session() as s:
                s.execute(update(JobRun).where(JobRun.id.in_(ids), JobRun.status.in_(LIVE)).values(
                    status="failed", finished_at=utcnow(),
                    message=ABANDONED,
                ))
        return ids


def _dead(progress: dict[str, Any]) -> bool:
    pid = progress.get("pid")
    return (progress.get("phase") != "queued" and isinstance(pid, int)
            and process_gone(str(progress.get("host")), pid))
