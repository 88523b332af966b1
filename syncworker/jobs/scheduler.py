"""Schedules: every tenant connected to a system gets a link run and a sync on the cron expressions in
`Settings.schedules`, submitted through an `Executor`.

APScheduler 3 only decides *when*; whether a (tenant, kind, system) is due is decided from the database:
it is due when a cron fire time has passed since its last scheduled run started (or, if it never ran,
since the tenant connected). That one rule gives both guarantees the issue asks for, with no job store of
APScheduler's own (which must never be shared between processes):

- a fire missed while no scheduler was running is still due at start, so it runs once (however many
  fires were missed: they coalesce into one run);
- a fire already submitted is not due again, so a catch-up at start and a cron fire a moment later do
  not both submit it.

A tenant that is busy (a run queued or running) is skipped with a log line, never queued twice. Run the
scheduler in ONE process only (`syncworker run` or `syncworker clock`): APScheduler 3 has no
inter-process coordination.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select, update

from syncworker.jobs.base import Executor, JobKind, JobRejected, JobRequest
from syncworker.services.context import ServiceContext
from syncworker.services.runs import LIVE
from syncworker.store.models import JobRun, Tenant, TenantSystem
from syncworker.store.types import utcnow

log = logging.getLogger(__name__)
SCHEDULED_KINDS = (JobKind.LINK_RUN, JobKind.SYNC)
REAP_EVERY_SECONDS = 30


class ScheduleError(ValueError):
    """A schedule in the settings cannot be used."""


@dataclass(frozen=True)
class Target:
    """One tenant's connection to one system: what a scheduled job runs for."""

    tenant: str
    tenant_id: int
    system: str
    connected_at: datetime


@dataclass(frozen=True)
class Outcome:
    kind: str
    tenant: str
    system: str
    action: str  # submitted, skipped
    run_id: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_schedules(schedules: Mapping[str, str | CronTrigger]) -> dict[str, CronTrigger]:
    """Cron triggers (UTC) for the scheduled kinds that have a non-empty expression. A ready-made
    CronTrigger is taken as is (sub-minute schedules in tests)."""
    triggers: dict[str, CronTrigger] = {}
    for kind, expr in schedules.items():
        if not expr:
            continue  # an empty expression disables the schedule
        if kind not in SCHEDULED_KINDS:
            raise ScheduleError(f"schedules.{kind}: unknown scheduled job; expected one of {', '.join(SCHEDULED_KINDS)}")
        if isinstance(expr, CronTrigger):
            triggers[kind] = expr
            continue
        try:
            triggers[kind] = CronTrigger.from_crontab(str(expr), timezone=UTC)
        except ValueError as exc:
            raise ScheduleError(f"schedules.{kind}: {expr!r} is not a valid cron expression: {exc}") from None
    return triggers


def next_fire_after(trigger: CronTrigger, after: datetime) -> datetime | None:
    # get_next_fire_time is inclusive of `now` at whole seconds; a microsecond later makes it strict.
    return trigger.get_next_fire_time(None, after + timedelta(microseconds=1))


class JobScheduler:
    """Decides what is due and submits it. `start()` runs it on APScheduler; `submit_due()` is the one
    step, callable directly (`syncworker run --once`, tests)."""

    def __init__(
        self, ctx: ServiceContext, executor: Executor, schedules: Mapping[str, str | CronTrigger] | None = None, *,
        skip_busy: bool = True, clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ctx, self.executor, self.skip_busy, self.clock = ctx, executor, skip_busy, clock
        self.triggers = parse_schedules(ctx.settings.schedules if schedules is None else schedules)
        self._scheduler: BaseScheduler | None = None
        self.history: deque[Outcome] = deque(maxlen=1000)  # recent decisions, newest last

    # --- what is due ---
    def targets(self) -> list[Target]:
        with self.ctx.db.session() as s:
            rows = s.execute(
                select(Tenant.name, Tenant.id, TenantSystem.system, TenantSystem.created_at)
                .join(TenantSystem, TenantSystem.tenant_id == Tenant.id)
                .where(TenantSystem.status == "connected").order_by(Tenant.name, TenantSystem.system)
            ).all()
        return [Target(name, tid, system, created) for name, tid, system, created in rows]

    def last_scheduled_start(self, target: Target, kind: str) -> datetime | None:
        with self.ctx.db.session() as s:
            return s.scalar(select(func.max(JobRun.started_at)).where(
                JobRun.tenant_id == target.tenant_id, JobRun.kind == kind, JobRun.system == target.system,
                JobRun.trigger == "schedule"))

    def due_since(self, target: Target, kind: str, now: datetime) -> datetime | None:
        """The first fire time the target has not had a run for, if it has passed."""
        reference = self.last_scheduled_start(target, kind) or target.connected_at
        fire = next_fire_after(self.triggers[kind], reference)
        return fire if fire is not None and fire <= now else None

    def busy_run(self, tenant_id: int) -> int | None:
        """A run of this tenant that is queued or running and still heart-beating."""
        cutoff = utcnow() - timedelta(seconds=self.ctx.settings.lock_ttl_seconds)
        with self.ctx.db.session() as s:
            return s.scalar(select(JobRun.id).where(JobRun.tenant_id == tenant_id, JobRun.status.in_(LIVE),
                                                    JobRun.heartbeat_at >= cutoff).limit(1))

    # --- submitting ---
    def submit_due(self, kinds: Iterable[str] | None = None) -> list[Outcome]:
        """Submit every (tenant, kind, system) whose fire time has passed since its last scheduled run."""
        now = self.clock()
        outcomes: list[Outcome] = []
        targets = self.targets()
        for kind in kinds or self.triggers:
            for target in targets:
                fire = self.due_since(target, kind, now)
                if fire is not None:
                    outcomes.append(self._submit(kind, target, fire))
        return outcomes

    def _submit(self, kind: str, target: Target, fire: datetime) -> Outcome:
        try:
            outcome = self._decide(kind, target, fire)
        except Exception as exc:  # one tenant's failure (a database hiccup) must not starve the others
            log.exception("scheduled %s failed to submit for tenant %s/%s", kind, target.tenant, target.system)
            outcome = Outcome(kind, target.tenant, target.system, "skipped", reason=f"error: {type(exc).__name__}: {exc}")
        self.history.append(outcome)
        return outcome

    def _decide(self, kind: str, target: Target, fire: datetime) -> Outcome:
        def skipped(reason: str) -> Outcome:
            log.info("scheduled %s skipped for tenant %s/%s: %s", kind, target.tenant, target.system, reason,
                     extra={"kind": kind, "system": target.system})
            return Outcome(kind, target.tenant, target.system, "skipped", reason=reason)

        if self.skip_busy and (busy := self.busy_run(target.tenant_id)) is not None:
            return skipped(f"tenant busy with run {busy}; the next fire will try again")
        request = JobRequest(kind, target.tenant, {"system": target.system, "scheduled_for": fire.isoformat()},
                             trigger="schedule")
        try:
            run_id = self.executor.submit(request)
        except JobRejected as exc:
            return skipped(str(exc))
        log.info("scheduled %s submitted for tenant %s/%s as run %s", kind, target.tenant, target.system, run_id,
                 extra={"kind": kind, "system": target.system, "run_id": run_id})
        return Outcome(kind, target.tenant, target.system, "submitted", run_id=run_id)

    # --- running on APScheduler ---
    def build(self, *, blocking: bool = False) -> BaseScheduler:
        scheduler: BaseScheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=UTC)
        for kind, trigger in self.triggers.items():
            # coalesce + max_instances=1: fires that pile up (a slow fan-out, a paused process) run once;
            # no grace limit, because lateness is judged against the database, not the process clock.
            scheduler.add_job(self.submit_due, trigger, args=[[kind]], id=f"schedule:{kind}", name=f"scheduled {kind}",
                              coalesce=True, max_instances=1, misfire_grace_time=None, replace_existing=True)
        from syncworker.services.portal import schedule_upkeep

        schedule_upkeep(scheduler, self.ctx)  # the client portal: expire, remind, retry mail (not per system)
        scheduler.add_job(self.reap, "interval", seconds=REAP_EVERY_SECONDS, id="reap_dead_runs", coalesce=True,
                          max_instances=1, replace_existing=True)
        if hasattr(self.executor, "pending_run_ids"):
            interval = max(5, self.ctx.settings.lock_ttl_seconds // 5)
            scheduler.add_job(self.keep_pending_alive, "interval", seconds=interval, id="keep_pending_alive",
                              coalesce=True, max_instances=1, replace_existing=True)
        self._scheduler = scheduler
        return scheduler

    def reap(self) -> int:
        """The periodic reaper: runs and tenant leases whose process died are closed and released, so a
        killed run frees its tenant within a minute even when nothing else asks."""
        from syncworker.services.locks import reap_dead_leases
        from syncworker.services.runs import RunRecorder

        ttl = self.ctx.settings.lock_ttl_seconds
        try:
            return len(reap_dead_leases(self.ctx.db, ttl)) + len(RunRecorder(self.ctx.db).reap_abandoned(ttl))
        except Exception:  # noqa: BLE001 - a database hiccup: the next pass tries again
            log.warning("the reaper could not run; trying again at its next pass", exc_info=True)
            return 0

    def keep_pending_alive(self) -> int:
        """Runs waiting in this process's executor (the in-process pool) are alive, not abandoned: refresh
        their heartbeat so `RunRecorder.reap_abandoned` leaves them alone while they wait their turn."""
        pending = self.executor.pending_run_ids() if hasattr(self.executor, "pending_run_ids") else []
        if pending:
            with self.ctx.db.session() as s:
                s.execute(update(JobRun).where(JobRun.id.in_(pending), JobRun.status == "running")
                          .values(heartbeat_at=utcnow()))
        return len(pending)

    def start(self, *, blocking: bool = False) -> list[Outcome]:
        """Catch up on fires missed while no scheduler ran, then follow the schedules. With `blocking` this
        returns only after `shutdown()` (from a signal handler). Returns the catch-up outcomes."""
        caught_up = self.submit_due()
        scheduler = self.build(blocking=blocking)
        for kind, trigger in self.triggers.items():
            log.info("schedule %s: %s", kind, trigger, extra={"kind": kind})
        scheduler.start()
        return caught_up

    def shutdown(self, wait: bool = True) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
