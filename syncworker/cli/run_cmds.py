"""Long-running processes: `run` (embedded default: schedule and execute in one process), `clock` and
`worker` (scale-out on PostgreSQL: one clock defers scheduled jobs, any number of workers execute them)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy import select

from syncworker.cli.context import CommandError, emit_json, get_app, json_option
from syncworker.jobs.base import Executor
from syncworker.jobs.inprocess import DEFAULT_GRACE_SECONDS, InProcessExecutor, exit_now
from syncworker.jobs.scheduler import JobScheduler, Outcome, ScheduleError
from syncworker.services.context import ServiceContext
from syncworker.store.models import JobRun

grace_option = click.option(
    "--grace", type=click.FloatRange(0, 3600), default=DEFAULT_GRACE_SECONDS, show_default=True,
    help="Seconds running jobs get to finish after SIGTERM/Ctrl-C; then they are recorded as interrupted.")


def _services() -> ServiceContext:
    """The context for a process that runs jobs: refused at start when the secret key cannot decrypt the
    stored credentials (every run would fail as an internal error)."""
    from syncworker.store.crypto import secret_key_problem

    app = get_app()
    ctx = app.services()
    try:
        problem = secret_key_problem(ctx.db, app.settings.secret_key)
    except Exception:  # noqa: BLE001 - no schema yet: the commands below say so themselves
        problem = None
    if problem:
        raise CommandError(problem)
    return ctx


def _scheduler(ctx: ServiceContext, executor: Executor, *, skip_busy: bool) -> JobScheduler:
    try:
        scheduler = JobScheduler(ctx, executor, skip_busy=skip_busy)
    except ScheduleError as exc:
        executor.shutdown(wait=False)
        raise CommandError(str(exc)) from None
    if not scheduler.triggers:
        click.echo("warning: no schedules configured (schedules.link_run / schedules.sync are empty)", err=True)
    return scheduler


@contextmanager
def _until_stopped(hurry: threading.Event | None = None) -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM (the platform's stop signal), so shutdown is always clean; a second
    signal sets `hurry` (stop waiting for running jobs)."""
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        if stop.is_set() and hurry is not None:
            hurry.set()
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _finished_runs(ctx: ServiceContext, outcomes: list[Outcome]) -> dict[int, dict[str, Any]]:
    ids = [o.run_id for o in outcomes if o.run_id is not None]
    with ctx.db.session() as s:
        return {r.id: {"status": r.status, "message": r.message}
                for r in s.scalars(select(JobRun).where(JobRun.id.in_(ids)))}


def _run_once(scheduler: JobScheduler, executor: InProcessExecutor) -> list[Outcome]:
    """Rounds of submit-and-wait: a tenant's second due job is skipped while its first runs, so it goes in
    the next round. Ends when a round submits nothing."""
    latest: dict[tuple[str, str, str], Outcome] = {}
    for _ in range(len(scheduler.triggers) + 1):
        submitted = 0
        for o in scheduler.submit_due():
            latest[(o.kind, o.tenant, o.system)] = o
            submitted += o.action == "submitted"
        futures.wait(list(executor.futures.values()))
        if not submitted:
            break
    return list(latest.values())


@click.command()
@click.option("--once", is_flag=True, help="Submit every due or missed job once, wait for them, and exit.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 32),
              help="Jobs that may run at the same time (different tenants; a tenant runs one job at a time).")
@grace_option
@json_option
def run(once: bool, workers: int, grace: float, as_json: bool) -> None:
    """Embedded default: run the schedules (settings `schedules`, UTC cron) and execute the jobs in this
    process, for every tenant connected to a system. A run missed while this was stopped runs once at start.
    Stops cleanly on Ctrl-C or SIGTERM: no new job starts, running jobs get --grace seconds to finish, any
    still unfinished are recorded as interrupted. Run ONE such process per database. Exits non-zero when
    `--once` ran a job that failed."""
    ctx = _services()
    executor = InProcessExecutor(ctx, workers=workers)
    scheduler = _scheduler(ctx, executor, skip_busy=True)
    if once:
        outcomes = _run_once(scheduler, executor)
        executor.shutdown(wait=True)
        runs = _finished_runs(ctx, outcomes)
        failed = [rid for rid, r in runs.items() if r["status"] == "failed"]
        if as_json:
            emit_json([o.as_dict() | runs.get(o.run_id or 0, {}) for o in outcomes])
        elif not outcomes:
            click.echo("nothing due")
        for o in outcomes if not as_json else ():
            run_info = runs.get(o.run_id or 0, {})
            tail = f"run {o.run_id}: {run_info.get('status')}" + (f" ({run_info['message']})" if run_info.get("message") else "")
            click.echo(f"{o.kind} {o.tenant}/{o.system}: {tail if o.action == 'submitted' else 'skipped: ' + str(o.reason)}")
        if failed:
            raise click.exceptions.Exit(1)  # a scheduler (cron, CI) must see that a run failed
        return
    with _until_stopped(executor.hurry) as stop:
        _follow_schedules(scheduler, "syncworker run", stop)
        scheduler.shutdown(wait=False)
        click.echo(f"stopping: waiting for running jobs to finish (up to {grace:g} s)")
        interrupted = executor.shutdown(wait=True, grace=grace)
    if interrupted:
        click.echo(f"stopped: run(s) {', '.join(map(str, interrupted))} recorded as interrupted", err=True)
        exit_now(0)


def _follow_schedules(scheduler: JobScheduler, banner: str, stop: threading.Event) -> None:
    """Catch up, then follow the schedules until `stop` is set (SIGINT/SIGTERM)."""
    caught_up = scheduler.start()
    schedules = {kind: expr for kind, expr in scheduler.ctx.settings.schedules.items() if expr}
    click.echo(f"{banner}: schedules {schedules} (UTC); {sum(o.action == 'submitted' for o in caught_up)} "
               "missed job(s) submitted at start; Ctrl-C or SIGTERM stops")
    stop.wait()


def _queue_services(command: str) -> ServiceContext:
    """Scale-out commands run on PostgreSQL only; they create the queue's tables if missing."""
    from syncworker.jobs.procrastinate_executor import (
        NeedsPostgres,
        check_schema_version,
        install_schema,
        require_postgres,
    )

    ctx = _services()
    try:
        require_postgres(ctx.db, f"`syncworker {command}`")
    except NeedsPostgres as exc:
        raise CommandError(str(exc)) from None
    install_schema(ctx.db)
    if warning := check_schema_version(ctx.db):
        click.echo(f"warning: {warning}", err=True)
    return ctx


@click.command()
def clock() -> None:
    """Scale-out (PostgreSQL): the ONE process that follows the schedules and defers jobs to the
    Procrastinate queue for `syncworker worker` processes. Run exactly one clock: APScheduler 3 has no
    coordination between processes, so two clocks would schedule duplicates."""
    from syncworker.jobs.procrastinate_executor import ProcrastinateExecutor

    ctx = _queue_services("clock")
    executor = ProcrastinateExecutor(ctx)
    # Busy tenants are not skipped: the queue's tenant lock orders their jobs, its queueing lock keeps one waiting.
    scheduler = _scheduler(ctx, executor, skip_busy=False)
    with _until_stopped() as stop:
        _follow_schedules(scheduler, "syncworker clock", stop)
        scheduler.shutdown(wait=True)
    executor.shutdown()


@click.command()
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Jobs this worker runs at the same time (each in a thread; one per tenant at a time).")
@grace_option
def worker(concurrency: int, grace: float) -> None:
    """Scale-out (PostgreSQL): execute queued jobs. Start as many as needed, on any machines; a tenant's jobs
    never run at the same time. Installs the queue's tables if missing. Stops on SIGINT/SIGTERM: no new job
    is fetched, running jobs get --grace seconds to finish; any still unfinished are recorded as interrupted
    and their tenants released."""
    from syncworker.jobs.procrastinate_executor import make_app
    from syncworker.services.locks import release_process_leases

    ctx = _queue_services("worker")
    app = make_app(ctx.db, pool_size=concurrency + 2)
    click.echo(f"syncworker worker: concurrency {concurrency}; Ctrl-C or SIGTERM stops after running jobs finish")
    app.run_worker(concurrency=concurrency, additional_context={"services": ctx}, shutdown_graceful_timeout=grace)
    if interrupted := release_process_leases(ctx.db):
        click.echo(f"stopped: run(s) {', '.join(map(str, interrupted))} recorded as interrupted", err=True)
        exit_now(0)


commands: list[click.Command] = [run, clock, worker]
