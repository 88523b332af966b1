"""`syncworker serve`: the HTTP API (operator endpoints, Xero webhooks, health, metrics) on uvicorn, with
jobs run in-process (the embedded default) or, in scale-out, only deferred to the Procrastinate queue for
`syncworker worker` processes: the web process then never runs a link run, a sync or a webhook pull.

Stopping: uvicorn handles SIGTERM/SIGINT itself (stops accepting, finishes open requests) and then re-raises
the signal with the handlers that were in place before it started. With the default SIGTERM handler that
re-raise would end the process there, abandoning accepted jobs, so ours are installed first: the re-raise
lands in them and the executor's graceful shutdown runs (a further signal cuts the grace period short)."""

from __future__ import annotations

import signal

import click

from syncworker.cli.context import get_app
from syncworker.jobs.inprocess import DEFAULT_GRACE_SECONDS


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on (default: http.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default: http.port, 8080).")
@click.option("--workers-threads", "threads", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Threads running jobs (link runs, syncs, webhook pulls) in this process.")
@click.option("--grace", type=click.FloatRange(0, 3600), default=DEFAULT_GRACE_SECONDS, show_default=True,
              help="Seconds accepted jobs get to finish after SIGTERM/Ctrl-C; then they are closed as interrupted.")
@click.option("--jobs", "jobs", type=click.Choice(["auto", "here", "queue"]), default="auto", show_default=True,
              help="here: run jobs in this process; queue: defer them to the Procrastinate queue (scale-out, "
                   "PostgreSQL) for `syncworker worker`; auto: queue when the database is PostgreSQL with the "
                   "queue's tables installed (a clock or worker ran), else here.")
def serve(host: str | None, port: int | None, threads: int, grace: float, jobs: str) -> None:
    """Serve the HTTP API until interrupted. SIGTERM or Ctrl-C stops it. Operator endpoints need
    SYNCWORKER_OPERATOR_TOKEN (they answer 503 without it); the Xero webhook needs SYNCWORKER_XERO_WEBHOOK_KEY. On shutdown no new job is
    taken and accepted jobs get --grace seconds to finish; any still unfinished are recorded as interrupted
    and their tenants released."""
    import uvicorn

    from syncworker.http.app import create_app
    from syncworker.jobs.inprocess import InProcessExecutor, exit_now
    app_ = get_app()
    settings = app_.settings
    ctx = app_.services()
    from syncworker.store.crypto import KeyCheck

    # /health's check, run once here: its search for a sealed tax number (every cached payload read when none
    # is sealed) then serves the first probes too, rather than running again for the first.
    key_check = KeyCheck(ctx.db, settings.secret_key)
    if problem := _quietly(key_check.problem):
        click.echo(f"warning: {problem}; every run will fail until it is fixed (GET /health answers 503)", err=True)
    if not settings.operator_token:
        click.echo("warning: SYNCWORKER_OPERATOR_TOKEN is not set: operator endpoints answer 503", err=True)
    if _scale_out(ctx, jobs):
        _serve_deferring(ctx, create_app, host or settings.http_host, port or settings.http_port, key_check)
        return
    executor = InProcessExecutor(ctx, workers=threads)
    server = uvicorn.Server(uvicorn.Config(
        create_app(ctx, executor, key_check=key_check), host=host or settings.http_host,
        port=port or settings.http_port,
        log_config=None,  # keep syncworker's redacting log handler
        server_header=False, proxy_headers=False, timeout_graceful_shutdown=10,
    ))
    signals: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        signals.append(signum)
        if len(signals) > 1:  # the first is uvicorn's re-raise of the stop signal
            executor.hurry.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        if executor.pending_run_ids():
            click.echo(f"stopping: accepted jobs get up to {grace:g} s to finish", err=True)
        interrupted = executor.shutdown(wait=True, grace=grace)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if interrupted:
        click.echo(f"stopped: run(s) {', '.join(map(str, interrupted))} recorded as interrupted", err=True)
        exit_now(0)
    if not server.started:
        raise click.ClickException(f"could not start the server on {host or settings.http_host}:"
                                   f"{port or settings.http_port} (see the log above)")


def _scale_out(ctx, jobs: str) -> bool:  # type: ignore[no-untyped-def]
    from syncworker.jobs.procrastinate_executor import (
        NeedsPostgres,
        installed_schema_version,
        require_postgres,
    )

    if jobs == "here":
        return False
    if jobs == "queue":
        try:
            require_postgres(ctx.db, "`serve --jobs queue`")
        except NeedsPostgres as exc:
            raise click.ClickException(str(exc)) from None
        return True
    return ctx.db.dialect == "postgresql" and _quietly(lambda: installed_schema_version(ctx.db)) is not None


def _serve_deferring(ctx, create_app, host: str, port: int, key_check) -> None:  # type: ignore[no-untyped-def]
    """Scale-out: POST /runs and webhook pulls are deferred (runs show `queued` until a worker takes them);
    nothing runs here, so a stop loses nothing: queued jobs wait in PostgreSQL."""
    import uvicorn

    from syncworker.jobs.procrastinate_executor import ProcrastinateExecutor, install_schema

    install_schema(ctx.db)
    executor = ProcrastinateExecutor(ctx)
    click.echo("syncworker serve: jobs are deferred to the queue for `syncworker worker` (scale-out)", err=True)
    server = uvicorn.Server(uvicorn.Config(
        create_app(ctx, executor, key_check=key_check), host=host, port=port, log_config=None, server_header=False,
        proxy_headers=False, timeout_graceful_shutdown=10,
    ))
    try:
        server.run()
    finally:
        executor.shutdown()
    if not server.started:
        raise click.ClickException(f"could not start the server on {host}:{port} (see the log above)")


def _quietly(check):  # type: ignore[no-untyped-def]
    """A start-up check that cannot run (no schema yet) says nothing: /health reports that itself."""
    try:
        return check()
    except Exception:  # noqa: BLE001
        return None


commands: list[click.Command] = [serve]

if __name__ == "__main__":  # `python -m syncworker.cli.serve_cmds` until the root group registers it
    serve(prog_name="syncworker serve")
