"""The frame every run against an external system shares: the run record, the refusals (not connected,
reconnect required, paused by the daily limit, tenant busy), the tenant lock, the adapter, and the mapping
of adapter errors to a run status. The work inside differs (link run, sync, webhook pull); this does not."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select, update

from adapters.base import ClientSystem
from adapters.errors import AdapterError, DailyLimitReached, ReconnectRequired
from syncworker.services.context import ServiceContext
from syncworker.services.locks import TenantBusy, TenantLock
from syncworker.services.runs import RunRecorder
from syncworker.services.systems import check_system
from syncworker.services.tenants import get_tenant
from syncworker.store.db import error_text
from syncworker.store.models import TenantSystem
from syncworker.store.types import utcnow

log = logging.getLogger(__name__)


class RunRefused(RuntimeError):
    """The run could not start (tenant busy, paused for the daily limit, reconnect required)."""

    def __init__(self, message: str, run_id: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


@dataclass
class RunReport:
    """What every run reports (link run, sync, webhook pull, relationship sync); each kind adds its own lists."""

    run_id: int
    tenant: str
    system: str
    dry_run: bool = False
    status: str = "running"
    message: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


R = TypeVar("R", bound=RunReport)
Work = Callable[[int, ClientSystem, RunRecorder], None]  # (tenant id, adapter, run recorder)


def refusal(conn: TenantSystem | None, system: str, now: datetime | None = None) -> str | None:
    if conn is None or conn.status == "disconnected":
        return f"tenant is not connected to {system}: run `syncworker connect {system}` first"
    if conn.status == "reconnect_required":
        return f"reconnect required for {system}: {conn.status_reason or 'the grant is no longer valid'}"
    if conn.paused_until and conn.paused_until > (now or utcnow()):
        return (f"{system} daily API limit reached; runs resume after "
                f"{conn.paused_until.isoformat(timespec='minutes')}")
    return None


def guarded_run(
    ctx: ServiceContext, tenant_name: str, system: str, kind: str, *, dry_run: bool, trigger: str,
    run_id: int | None, params: dict[str, Any], make_report: Callable[[int], R], work: Callable[[R], Work],
    has_failures: Callable[[R], bool],
) -> R:
    """Run `work` inside the frame and record the outcome: `succeeded`, `partial` (`has_failures`, or
    stopped by the daily limit, which parks the tenant until `resume_at`) or `failed`."""
    check_system(system)
    db, runs = ctx.db, RunRecorder(ctx.db)
    with db.session() as s:
        tenant_id = get_tenant(s, tenant_name).id
        conn = s.scalar(select(TenantSystem).where(TenantSystem.tenant_id == tenant_id, TenantSystem.system == system))
    if run_id is None:
        run_id = runs.start(kind, tenant_id=tenant_id, trigger=trigger, system=system, params=params, dry_run=dry_run)
    report = make_report(run_id)
    refused = refusal(conn, system, ctx.clock())
    if refused:
        runs.finish(run_id, "failed", message=refused)
        raise RunRefused(refused, run_id)
    runs.reap_abandoned(ctx.settings.lock_ttl_seconds)
    lock = TenantLock(db, tenant_id, ttl_seconds=ctx.settings.lock_ttl_seconds, run_id=run_id)
    try:
        lock.acquire()
    except TenantBusy as exc:
        runs.finish(run_id, "failed", message=f"refused: {exc}")
        raise RunRefused(str(exc), run_id) from None
    adapter: ClientSystem | None = None
    try:
        adapter = ctx.adapter(tenant_id, system)
        work(report)(tenant_id, adapter, runs)
    except DailyLimitReached as exc:
        report.status = "partial"
        resume = exc.resume_at.isoformat(timespec="minutes") if exc.resume_at else "tomorrow"
        report.message = f"stopped: the daily API limit is spent; resumes after {resume} from the last stored page"
        if exc.resume_at and not dry_run:
            with db.session() as s:
                s.execute(update(TenantSystem).where(TenantSystem.tenant_id == tenant_id,
                                                     TenantSystem.system == system).values(paused_until=exc.resume_at))
    except ReconnectRequired as exc:
        report.status, report.message = "failed", f"reconnect required: {exc}"
    except AdapterError as exc:
        report.status, report.message = "failed", f"{system} call failed: {exc}"
        log.warning("%s failed", kind, extra={"run_id": run_id, "error_class": type(exc).__name__})
    except Exception as exc:
        report.status, report.message = "failed", f"internal error: {error_text(exc)}"
        log.exception("%s crashed", kind, extra={"run_id": run_id})
    finally:
        if adapter is not None:
            report.api_calls = dict(adapter.call_stats())
        lock.release()
    if report.status == "running":
        report.status = "partial" if has_failures(report) else "succeeded"
    counts = dict(report.counts) | {f"api_{k}": v for k, v in report.api_calls.items()}
    runs.finish(run_id, report.status, counts=counts, errors=report.errors, message=report.message)
    return report
