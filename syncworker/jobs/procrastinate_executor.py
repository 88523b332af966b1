"""The scale-out executor: jobs run as Procrastinate tasks on the application's own PostgreSQL, by
`syncworker worker` processes on as many machines as needed.

- `lock="tenant:<name>"`: a tenant's jobs run one at a time, in order, whichever worker picks them up.
- `queueing_lock="<kind>:<tenant>:<system>"`: at most one such job waits in the queue; a duplicate is
  refused (JobRejected) and its run recorded as `skipped`, so scheduled runs never pile up behind a slow
  tenant. A deferred run is `queued` until a worker picks it up (`execute_job` claims it: `running`).
- Transient failures (database or network hiccups escaping the job function) are retried a few times
  with short waits: a retried job keeps its tenant lock and blocks the tenant's later jobs until it runs,
  so the waits stay short.
- Two periodic housekeeping tasks (deduplicated by the database across workers): queued runs are kept
  heart-beating so `RunRecorder.reap_abandoned` does not close a run that is merely waiting in the queue,
  and, every minute, jobs left `doing` by a dead worker are recovered so they do not hold their tenant lock
  forever: re-queued, or, when a job of the same kind already waits (its queueing lock is taken: the
  schedule queued the next one), failed with their run closed, so the waiting job runs next. Dead
  workers' tenant leases are released in the same pass.

Procrastinate keeps its own tables in the same database; `install_schema()` creates them once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import procrastinate
import procrastinate.manager
from procrastinate import JobContext, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.schema import SchemaManager
from sqlalchemy import make_url, select, text, update
from sqlalchemy.exc import DBAPIError

from adapters.errors import TransientError
from syncworker.jobs.base import JobRejected, JobRequest, execute_job, prepare
from syncworker.services.context import ServiceContext
from syncworker.services.runs import LIVE, RunRecorder
from syncworker.store.db import Database, error_text
from syncworker.store.models import JobRun
from syncworker.store.types import utcnow

log = logging.getLogger(__name__)
RUN_JOB = "syncworker.run_job"
SCHEMA_LOCK_KEY = 7_402_113_901  # pg advisory lock: one process installs the schema at a time
# Retried: failures that a later attempt can get past. Anything else fails the run at once.
TRANSIENT: tuple[type[Exception], ...] = (DBAPIError, TransientError, ConnectionError, TimeoutError)
RETRY = RetryStrategy(max_attempts=4, exponential_wait=2, retry_exceptions=TRANSIENT)  # waits 2, 4, 8 s


class NeedsPostgres(RuntimeError):
    """Procrastinate (scale-out) runs on PostgreSQL only."""


def require_postgres(db: Database, what: str) -> None:
    if db.dialect != "postgresql":
        raise NeedsPostgres(
            f"{what} needs PostgreSQL (scale-out mode), but DATABASE_URL points at {db.dialect}. On the embedded "
            "default (SQLite) use `syncworker run`, which schedules and executes jobs in one process.")


def tenant_lock(tenant: str) -> str:
    return f"tenant:{tenant}"


def queueing_lock(request: JobRequest) -> str:
    return f"{request.kind}:{request.tenant}:{request.params.get('system') or '-'}"


# --- the app ---
def make_app(db: Database, *, pool_size: int = 4) -> procrastinate.App:
    """A Procrastinate app on `db`'s PostgreSQL (same schema as the application tables)."""
    require_postgres(db, "the Procrastinate executor")
    conninfo = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    pool_kwargs: dict[str, Any] = {"options": f"-csearch_path={db.schema}"} if db.schema else {}
    connector = PsycopgConnector(conninfo=conninfo, kwargs=pool_kwargs, min_size=1, max_size=max(2, pool_size))
    app = procrastinate.App(connector=connector)
    app.task(name=RUN_JOB, pass_context=True, retry=RETRY)(run_job)
    app.periodic(cron="* * * * *", periodic_id="keep_queued_runs_alive")(
        app.task(name="syncworker.keep_queued_runs_alive", pass_context=True,
                 queueing_lock="keep_queued_runs_alive")(keep_queued_runs_alive))
    app.periodic(cron="* * * * *", periodic_id="requeue_stalled_jobs")(
        app.task(name="syncworker.requeue_stalled_jobs", pass_context=True,
                 queueing_lock="requeue_stalled_jobs")(requeue_stalled_jobs))
    return app


_default_services: ServiceContext | None = None


def services_for(context: JobContext) -> ServiceContext:
    """The worker passes its ServiceContext in `additional_context`; otherwise build one from settings."""
    global _default_services
    services = context.additional_context.get("services")
    if services is not None:
        return services  # type: ignore[no-any-return]
    if _default_services is None:
        from syncworker.bootstrap import build_context

        _default_services = build_context()
    return _default_services


# --- tasks ---
def run_job(context: JobContext, request: dict[str, Any], run_id: int) -> None:
    services = services_for(context)
    try:
        execute_job(services, JobRequest.from_dict(request), run_id)
    except Exception as exc:
        retried = RETRY.get_retry_decision(exception=exc, job=context.job) is not None
        attempt = context.job.attempts + 1
        try:
            if retried:
                RunRecorder(services.db).progress(run_id, phase="retrying", attempt=attempt, error=type(exc).__name__)
            else:
                RunRecorder(services.db).finish(run_id, "failed", message=(
                    f"internal error after {attempt} attempt(s): {error_text(exc)}"))
        except Exception:  # noqa: BLE001 - the database may be what failed; reap_abandoned closes the run later
            log.warning("could not record the job failure", extra={"run_id": run_id})
        log.warning("job failed%s", ", will retry" if retried else "",
                    extra={"run_id": run_id, "kind": request.get("kind"), "error_class": type(exc).__name__})
        raise


def keep_queued_runs_alive(context: JobContext, timestamp: int) -> int:
    """Every minute: queued runs keep heart-beating, and dead runs' leases and records are reaped."""
    from syncworker.services.locks import reap_dead_leases

    services = services_for(context)
    refreshed = refresh_queued_runs(services.db)
    reap_dead_leases(services.db, services.settings.lock_ttl_seconds)
    RunRecorder(services.db).reap_abandoned(services.settings.lock_ttl_seconds)
    return refreshed


def refresh_queued_runs(db: Database) -> int:
    """Queued runs are not dead runs: refresh their heartbeat so reap_abandoned leaves them alone."""
    with db.session() as s:
        ids = [int(i) for i in s.scalars(text(
            "SELECT (args->>'run_id')::bigint FROM procrastinate_jobs WHERE task_name = :task AND status = 'todo'"
        ), {"task": RUN_JOB}) if i is not None]
        if ids:
            s.execute(update(JobRun).where(JobRun.id.in_(ids), JobRun.status.in_(LIVE))
                      .values(heartbeat_at=utcnow()))
    return len(ids)


async def requeue_stalled_jobs(context: JobContext, timestamp: int) -> int:
    """Jobs left `doing` by a worker that stopped heart-beating (killed, machine lost) are put back in the
    queue, or failed when a job of the same kind already waits; otherwise they would hold their tenant's
    lock forever. Returns how many were recovered."""
    services = services_for(context)
    return len(await recover_stalled_jobs(context.app.job_manager, services.db, services.settings.lock_ttl_seconds))


async def recover_stalled_jobs(manager: procrastinate.manager.JobManager, db: Database, lease_ttl: int,
                               seconds_since_heartbeat: float = 30) -> list[tuple[int, str]]:
    """(job id, "requeued" | "failed") for each stalled job."""
    from procrastinate.jobs import Status

    from syncworker.services.locks import reap_dead_leases

    recovered: list[tuple[int, str]] = []
    for job in list(await manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat)):
        assert job.id is not None
        waiting = job.queueing_lock is not None and any(
            True for _ in await manager.list_jobs_async(queueing_lock=job.queueing_lock, status="todo"))
        run_id = (job.task_kwargs or {}).get("run_id")
        if waiting:
            # The same job waits in the queue: this one is dropped (its run closed) and the waiting one
            # resumes from the checkpoints, with nothing lost.
            await manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
            if run_id is not None:
                await asyncio.to_thread(_close_run, db, int(run_id))
            recovered.append((job.id, "failed"))
        else:
            try:
                await manager.retry_job(job)
                recovered.append((job.id, "requeued"))
            except AlreadyEnqueued:  # a duplicate was queued between the two statements
                await manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
                recovered.append((job.id, "failed"))
        log.warning("recovered a job whose worker died: %s", recovered[-1][1],
                    extra={"job_id": job.id, "task": job.task_name, "run_id": run_id})
    if recovered:
        await asyncio.to_thread(reap_dead_leases, db, lease_ttl)
    return recovered


def _waiting_run(db: Database, skipped_run_id: int) -> int | None:
    """The queued run of the same kind, tenant and system that made `skipped_run_id` unnecessary."""
    with db.session() as s:
        skipped = s.get(JobRun, skipped_run_id)
        if skipped is None:
            return None
        return s.scalar(select(JobRun.id).where(
            JobRun.tenant_id == skipped.tenant_id, JobRun.kind == skipped.kind, JobRun.system == skipped.system,
            JobRun.status == "queued").order_by(JobRun.id).limit(1))


def _close_run(db: Database, run_id: int) -> None:
    RunRecorder(db).finish_if_running(
        run_id, "failed", message="abandoned: the worker died; the same job waiting in the queue runs instead")


# --- the executor ---
class ProcrastinateExecutor:
    """`submit()` records the run, then defers it to the Procrastinate queue.

    A tenant that is already running is not refused here (unlike the in-process executor): the tenant lock
    queues the job behind the running one, and the queueing lock keeps it to one waiting job per kind."""

    def __init__(self, ctx: ServiceContext, app: procrastinate.App | None = None, *, refuse_if_busy: bool = False) -> None:
        self.ctx, self.refuse_if_busy = ctx, refuse_if_busy
        self.app = app or make_app(ctx.db)
        self.app.open()

    def submit(self, request: JobRequest) -> int:
        run_id = prepare(self.ctx, request, refuse_if_busy=self.refuse_if_busy, queued=True)
        runs = RunRecorder(self.ctx.db)
        task = self.app.tasks[RUN_JOB]
        try:
            job_id = task.configure(lock=tenant_lock(request.tenant), queueing_lock=queueing_lock(request)).defer(
                request=request.as_dict(), run_id=run_id)
        except AlreadyEnqueued:
            system = request.params.get("system")
            message = (f"skipped: a {request.kind}{f' ({system})' if system else ''} for tenant {request.tenant!r} is "
                       "already waiting in the queue; it will run when the tenant's current job finishes")
            runs.finish(run_id, "skipped", message=message)
            raise JobRejected(message, busy_run_id=_waiting_run(self.ctx.db, run_id)) from None
        except Exception as exc:
            runs.finish(run_id, "failed", message=f"could not queue the job: {type(exc).__name__}: {exc}")
            raise
        runs.progress(run_id, phase="queued", queue_job_id=job_id)
        return run_id

    def shutdown(self, wait: bool = True) -> None:
        self.app.close()


# --- schema ---
def installed_schema_version(db: Database) -> str | None:
    """The procrastinate version whose schema is installed ("unknown" if not recorded), or None."""
    with db.engine.connect() as conn:
        if conn.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar() is None:
            return None
        comment = conn.exec_driver_sql("SELECT obj_description(to_regclass('procrastinate_jobs'), 'pg_class')").scalar()
    return str(comment).removeprefix("procrastinate ") if comment else "unknown"


def install_schema(db: Database) -> bool:
    """Create Procrastinate's tables if they are missing (idempotent; safe to race). True if installed now.

    Upgrading Procrastinate later needs its migration scripts (procrastinate/sql/migrations) applied by
    hand; `check_schema_version` warns when the installed schema is from another version."""
    require_postgres(db, "installing the job queue schema")
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
        if conn.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar() is not None:
            return False
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute(SchemaManager.get_schema())  # no parameters: psycopg sends it as one script, '%' untouched
        conn.exec_driver_sql(f"COMMENT ON TABLE procrastinate_jobs IS 'procrastinate {procrastinate.__version__}'")
    log.info("installed the job queue schema (procrastinate %s)", procrastinate.__version__)
    return True


def check_schema_version(db: Database) -> str | None:
    """A warning if the installed queue schema does not match this procrastinate version, else None."""
    installed = installed_schema_version(db)
    if installed in (None, procrastinate.__version__):
        return None
    return (f"the job queue schema was installed by procrastinate {installed}, this is {procrastinate.__version__}: "
            "apply procrastinate's migrations between the two versions")
